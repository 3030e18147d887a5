"""The monitoring loop end to end on this machine, with the fraud team of the example.

Deploy; requests drawn like the training data (no drift: nothing happens); shifted requests
(drift: the report flags the shifted features, a retraining run registers a new version that
serves, the old one stays in the registry with its lineage); shifted again inside the
cool-down (no second run). Asserts on the state, the MLflow registry and the endpoint's answers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from compiler.cli import main
from compiler.deploy.local import payload_log, processes, serving
from compiler.deploy.local.state import LocalState, load_state
from tests.conftest import CONFIGS

pytestmark = pytest.mark.e2e

N = 200
ENDPOINT = "fraud/fraud-scorer"
SMALL = "teams.fraud.pipelines.train-fraud-model.parameters.n_samples.default=2000"
SHIFTED = {"amount", "merchant_risk"}


@dataclass
class Loop:
    configs: Path
    state_dir: Path
    build_dir: Path

    def mlplat(self, command: str, *args: str) -> tuple[int, str, float]:
        out, err = io.StringIO(), io.StringIO()
        argv = [command, "--state-dir", str(self.state_dir)]
        if command in ("deploy", "monitor"):
            argv += ["--configs", str(self.configs), "--build-dir", str(self.build_dir), SMALL]
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*argv, *args])
        return code, err.getvalue() + out.getvalue(), time.monotonic() - started

    @property
    def state(self) -> LocalState:
        state = load_state(self.state_dir / "state.json")
        assert state is not None
        return state

    def training_rows(self) -> list[dict[str, float]]:
        state = self.state
        run = state.pipelines["fraud/train-fraud-model"].last_success
        assert run is not None
        with open(run.outputs["make-dataset"]["dataset"].uri, newline="") as handle:
            return [{k: float(v) for k, v in r.items() if k not in ("split", "is_fraud")}
                    for r in csv.DictReader(handle)]  # fmt: skip

    def send(self, rows: list[dict[str, float]]) -> list[dict]:
        rec = self.state.endpoints[ENDPOINT]
        assert rec.status == "serving" and rec.url
        answers = []
        for row in rows:
            request = {
                "parameters": {"content_type": "pd"},
                "inputs": [
                    {"name": k, "shape": [1], "datatype": "FP64", "data": [v]}
                    for k, v in row.items()
                ],
                "outputs": [{"name": "predict_proba"}],
            }
            answers.append(serving.infer(rec.url, request))
        return answers

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.mlplat("down")
        state = load_state(self.state_dir / "state.json") if self.state_dir.exists() else None
        for rec in state.endpoints.values() if state else ():
            folder = self.state_dir.resolve() / (rec.server_dir or "")
            if rec.pid and processes.is_server(rec.pid, folder):
                processes.stop(rec.pid, timeout=5)


def _draw(rows: list[dict[str, float]], seed: int, shift: bool) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    drawn = [dict(rows[i]) for i in rng.integers(0, len(rows), N)]
    if shift:
        for row in drawn:
            row["amount"] = round(row["amount"] * 1.8, 2)
            row["merchant_risk"] = min(1.0, row["merchant_risk"] + 0.25)
    return drawn


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    root = tmp_path_factory.mktemp("monitoring")
    configs = root / "configs"
    shutil.copytree(CONFIGS, configs)
    # Only the monitored team: the loop needs nothing of the others.
    (configs / "teams" / "search.yaml").unlink()
    shutil.rmtree(configs / "teams" / "recsys")
    policies = configs / "policies.yaml"
    text = policies.read_text()
    policies.write_text(text[: text.index("  exceptions:")])  # they waive the removed teams
    found = Loop(configs, root / "state", root / "build")
    try:
        code, out, _ = found.mlplat("deploy")
        assert code == 0, out
        yield found
    finally:
        found.stop()


def test_the_monitoring_loop(loop: Loop) -> None:
    training = loop.training_rows()
    first_run = loop.state.pipelines["fraud/train-fraud-model"].last_success
    assert first_run is not None

    # 1. Requests drawn like the training data: no drift, nothing happens.
    loop.send(_draw(training, 1, shift=False))
    code, out, _ = loop.mlplat("monitor", "--fail-on-drift")
    assert code == 0, out
    mon = loop.state.monitoring[ENDPOINT]
    assert mon.status == "ok" and mon.drifted_features == [] and mon.version == 1, out
    assert mon.rows == N and mon.retrain_started_at is None
    # The objectives are measured over the same window: fraud rate and server latency.
    assert mon.positive_rate is not None and 0 < mon.positive_rate < 0.3
    assert mon.latency_ms is not None and mon.latency_ms > 0 and mon.objectives_missed == []
    assert len(loop.state.models["fraud/fraud-classifier"].versions) == 1
    report = loop.state_dir / mon.report
    assert "no drift" in report.read_text() and "data:image/png;base64," in report.read_text()

    # 2. Shifted requests: drift, retraining, a new version serves.
    loop.send(_draw(training, 2, shift=True))
    code, out, seconds = loop.mlplat("monitor", "--fail-on-drift")
    assert code == 3, out
    state = loop.state
    mon = state.monitoring[ENDPOINT]
    assert mon.status == "drift" and set(mon.drifted_features) >= SHIFTED, out
    assert mon.version == 1 and mon.retrain_result == "v2 serving", out
    text = (loop.state_dir / mon.report).read_text()
    assert all(f in text.split("DRIFT in ")[1].split(":")[0] for f in SHIFTED)
    retrain_run = state.pipelines["fraud/train-fraud-model"].last_run
    assert retrain_run is not None and retrain_run.run_id != first_run.run_id
    assert mon.retrain_run == retrain_run.run_id
    model = state.models["fraud/fraud-classifier"]
    assert [v.version for v in model.versions] == [1, 2]
    assert model.versions[1].run_id == retrain_run.run_id
    assert model.versions[0].run_id == first_run.run_id
    assert state.endpoints[ENDPOINT].version == 2 and state.endpoints[ENDPOINT].status == "serving"
    print(f"monitor to new version serving: {seconds:.1f}s")

    # The registry keeps the old version with its lineage, next to the new one.
    from mlflow import MlflowClient

    uri = f"sqlite:///{(loop.state_dir / 'registry' / 'mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    v1 = client.get_model_version("fraud.fraud-classifier", "1")
    v2 = client.get_model_version("fraud.fraud-classifier", "2")
    assert v1.tags["mlplat.run_id"] == first_run.run_id
    assert v2.tags["mlplat.run_id"] == retrain_run.run_id
    assert v2.tags["mlplat.card_check"] == "passed"
    assert v1.run_id != v2.run_id

    # The endpoint answers with version 2, and what the v2 model file predicts.
    import joblib

    probe = _draw(training, 3, shift=False)[:5]
    answers = loop.send(probe)
    assert {a["model_version"] for a in answers} == {"2"}
    classifier = joblib.load(model.versions[1].model_path)
    features = list(classifier.feature_names_in_)
    import pandas as pd

    expected = classifier.predict_proba(pd.DataFrame(probe)[features])
    got = np.array([a["outputs"][0]["data"] for a in answers])
    assert np.allclose(got, expected)

    # 3. Shifted again, inside the cool-down: drift is reported, no second run.
    loop.send(_draw(training, 4, shift=True))
    code, out, _ = loop.mlplat("monitor")
    assert code == 0, out
    state = loop.state
    mon = state.monitoring[ENDPOINT]
    assert mon.status == "drift" and mon.version == 2 and "cool-down" in out, out
    assert state.pipelines["fraud/train-fraud-model"].last_run.run_id == retrain_run.run_id
    assert len(state.models["fraud/fraud-classifier"].versions) == 2

    # No request was lost across the restart of the endpoint: every answer is logged.
    directory = loop.state_dir / "buckets" / "logs" / "fraud" / "payloads" / "fraud-scorer"
    records = payload_log.read_records(directory)
    by_version = {v: sum(str(r["version"]) == v for r in records) for v in ("1", "2")}
    assert by_version == {"1": 2 * N, "2": 5 + N}
    status_code, status, _ = loop.mlplat("status")
    assert status_code == 0 and "drift score" in status and "serving v2" in status, status
    code, out, _ = loop.mlplat("status", "--format", "json")
    assert json.loads(out)["monitoring"][ENDPOINT]["drift_share"] >= 0.4
