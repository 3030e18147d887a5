"""The fraud pipeline really runs: kfp.local executes each python step in a subprocess of
this environment, and the trained model and its metrics come out usable.

The lightweight components' `pip install` of their pinned packages must be a no-op here:
the run sets PIP_NO_INDEX (an install that needed the network would fail) and checks that
the virtualenv's site-packages is unchanged afterwards.
"""

from __future__ import annotations

import json
import os
import sysconfig
import time
from pathlib import Path

import joblib
import pandas as pd
import pytest

from compiler.kfp_backend import build_pipeline

pytestmark = [
    pytest.mark.e2e,
    # kfp.local cannot apply resources and says so once per step
    pytest.mark.filterwarnings("ignore:Task .* have no effect in the current local runner"),
]


def _site_packages_state() -> dict[str, int]:
    site = Path(sysconfig.get_paths()["purelib"])
    return {entry.name: entry.stat().st_mtime_ns for entry in site.iterdir()}


def _executor_output(run: Path, step: str) -> dict:
    return json.loads((run / step / "executor_output.json").read_text())


def _artifact(output: dict, name: str) -> dict:
    (artifact,) = output["artifacts"][name]["artifacts"]
    return artifact


def test_fraud_pipeline_runs_with_the_subprocess_runner(example_ir, tmp_path, monkeypatch):
    import kfp.local

    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.chdir(Path(__file__).resolve().parents[3])  # pipelines run from the repo root
    before = _site_packages_state()
    kfp.local.init(
        runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root")
    )
    ir = example_ir("local").ir
    pipeline = build_pipeline(ir, ir.teams["fraud"].pipelines["train-fraud-model"])

    started = time.perf_counter()
    pipeline(n_samples=3000, learning_rate=0.1)
    elapsed = time.perf_counter() - started

    (run,) = (tmp_path / "root").iterdir()
    dataset = _artifact(_executor_output(run, "make-dataset"), "dataset")
    assert dataset["metadata"]["rows"] == 3000
    frame = pd.read_csv(dataset["uri"])
    assert 0.03 < frame["is_fraud"].mean() < 0.07

    train = _executor_output(run, "train")
    model = _artifact(train, "model")
    assert model["metadata"]["framework"] == "sklearn"
    classifier = joblib.load(os.path.join(model["uri"], model["metadata"]["model_file"]))
    test = frame[frame["split"] == "test"]
    scores = classifier.predict_proba(test[model["metadata"]["features"]])[:, 1]
    assert scores.shape == (len(test),) and ((scores >= 0) & (scores <= 1)).all()
    train_metrics = _artifact(train, "metrics")["metadata"]
    assert 0.85 <= train_metrics["roc_auc"] <= 1.0
    assert 0.9 <= train_metrics["accuracy"] <= 1.0

    evaluate = _executor_output(run, "evaluate")
    report = _artifact(evaluate, "report")["metadata"]
    assert report["roc_auc"] == pytest.approx(train_metrics["roc_auc"])
    assert evaluate["parameterValues"]["Output"] == pytest.approx(report["roc_auc"])
    assert report["test_rows"] == len(test)

    assert _site_packages_state() == before, "running the pipeline changed the virtualenv"
    assert elapsed < 45, f"the local run took {elapsed:.1f} s"
