"""What gets recorded with a model version: metrics of the run and the model card check."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from compiler.deploy.local.registry import card_check, collect_metrics, model_file_of
from compiler.deploy.local.state import OutputRecord, RunRecord
from compiler.frontend import FrontendResult

Loader = Callable[[str], FrontendResult]


def fraud_run(outputs: dict[str, dict[str, OutputRecord]]) -> RunRecord:
    return RunRecord(
        run_id="r1",
        status="succeeded",
        started_at="2026-01-01T00:00:00+00:00",
        seconds=1.0,
        pipeline_hash="p",
        spec_hash="s",
        runner="subprocess",
        root="buckets/artifacts/fraud/train-fraud-model",
        log="x.log",
        outputs=outputs,
    )


def test_metrics_come_from_metrics_outputs_and_numeric_results(example_ir: Loader) -> None:
    ir = example_ir("local").ir
    assert ir is not None
    pipeline = ir.teams["fraud"].pipelines["train-fraud-model"]
    run = fraud_run(
        {
            "make-dataset": {"dataset": OutputRecord(uri="/d", metadata={"rows": 4000})},
            "train": {
                "model": OutputRecord(uri="/m", metadata={"roc_auc": 0.5}),
                "metrics": OutputRecord(uri="/t", metadata={"roc_auc": 0.91, "accuracy": 0.9}),
            },
            "evaluate": {
                "report": OutputRecord(uri="/e", metadata={"roc_auc": 0.93, "note": "x"}),
                "roc_auc": OutputRecord(uri="", metadata={"value": 0.93}),
            },
        }
    )
    # Datasets and models are not metrics; the evaluation (a later step) wins a name clash.
    assert collect_metrics(pipeline, run) == {"accuracy": 0.9, "roc_auc": 0.93}


@pytest.mark.parametrize(
    ("metrics", "verdict"),
    [
        pytest.param({"roc_auc": 0.9}, "passed", id="above-min"),
        pytest.param({"roc_auc": 0.8}, "failed", id="below-min"),
        pytest.param({"accuracy": 0.9}, "missing", id="not-reported"),
    ],
)
def test_model_card_thresholds(example_ir: Loader, metrics: dict[str, float], verdict: str) -> None:
    ir = example_ir("local").ir
    assert ir is not None
    assert card_check(ir.teams["fraud"].models["fraud-classifier"], metrics) == verdict


def test_the_model_file_of_an_artifact_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "classifier.bin").write_bytes(b"x")
    (tmp_path / "model.joblib").write_bytes(b"x")
    assert model_file_of(tmp_path, {"model_file": "classifier.bin"}) == "classifier.bin"
    assert model_file_of(tmp_path, {"model_file": "absent.bin"}) == "model.joblib"
    assert model_file_of(tmp_path / "none", {}) is None


def test_whole_number_results_stay_ints_and_params_are_the_run_inputs(
    example_ir: Loader,
) -> None:
    from compiler.deploy.local.registry import run_parameters
    from compiler.deploy.local.report import metrics_summary

    ir = example_ir("local").ir
    assert ir is not None
    pipeline = ir.teams["fraud"].pipelines["train-fraud-model"]
    outputs = dict(pipeline.steps["evaluate"].outputs)
    evaluate = pipeline.steps["evaluate"].model_copy(
        update={"outputs": {**outputs, "n_scored": "int"}}
    )
    pipeline = pipeline.model_copy(update={"steps": {**pipeline.steps, "evaluate": evaluate}})
    run = fraud_run(
        {
            "train": {"metrics": OutputRecord(uri="/t", metadata={"roc_auc": 0.912})},
            "evaluate": {"n_scored": OutputRecord(uri="", metadata={"value": 2000})},
        }
    )
    metrics = collect_metrics(pipeline, run)
    assert metrics == {"n_scored": 2000, "roc_auc": 0.912}
    assert isinstance(metrics["n_scored"], int)
    assert metrics_summary(metrics, ["roc_auc"]) == "roc_auc=0.912, n_scored=2000"
    from compiler.deploy.local.state import ModelVersionRecord

    record = ModelVersionRecord.model_validate_json(
        ModelVersionRecord(
            version=1,
            run_id="r1",
            mlflow_run_id="m",
            pipeline_hash="p",
            model_path="/m",
            metrics=metrics,
            card_check="passed",
            registered_at="2026-01-01T00:00:00+00:00",
        ).model_dump_json()
    )
    assert record.metrics == metrics and isinstance(record.metrics["n_scored"], int)
    params = run_parameters(pipeline)
    assert params == {name: p.default for name, p in sorted(pipeline.parameters.items())}
