"""Model server settings, runtimes, start failures and the example request."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from compiler.deploy.local import serving
from compiler.deploy.local.state import ModelVersionRecord


def version(**fields: object) -> ModelVersionRecord:
    base: dict[str, object] = {
        "version": 3,
        "run_id": "r",
        "mlflow_run_id": "m",
        "pipeline_hash": "h",
        "model_path": "/registry/model.joblib",
        "registered_at": "2026-01-01T00:00:00+00:00",
    }
    return ModelVersionRecord.model_validate({**base, **fields})


def test_server_settings(tmp_path: Path) -> None:
    folder = tmp_path / "fraud-scorer"
    serving.write_server_folder(
        folder,
        endpoint="fraud-scorer",
        runtime="sklearn",
        version=version(),
        port=8700,
        grpc_port=8701,
    )
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["host"] == "127.0.0.1"  # never listens beyond this machine
    assert (settings["http_port"], settings["grpc_port"]) == (8700, 8701)
    assert settings["metrics_endpoint"] is None
    assert settings["environments_dir"].startswith(str(folder))
    model = json.loads((folder / "fraud-scorer" / "model-settings.json").read_text())
    assert model == {
        "implementation": "compiler.deploy.local.runtimes.ValidatedSKLearnModel",
        "name": "fraud-scorer",
        "parameters": {"uri": "/registry/model.joblib", "version": "3"},
    }


@pytest.mark.parametrize(
    ("runtime", "skip", "message"),
    [
        pytest.param("sklearn", None, None, id="installed"),
        pytest.param("triton", True, "Triton Inference Server in the cluster only", id="triton"),
        pytest.param("custom", True, "needs a container engine", id="custom"),
    ],
)
def test_runtimes(runtime: str, skip: bool | None, message: str | None) -> None:
    problem = serving.runtime_problem(runtime)
    if skip is None:
        assert problem is None
    else:
        assert problem is not None and problem.skip is skip and message in problem.message


def test_a_missing_runtime_package_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        serving.MLSERVER_RUNTIMES,
        "xgboost",
        ("mlserver_xgboost_absent", "mlserver_xgboost.XGBoostModel", "mlserver-xgboost"),
    )
    problem = serving.runtime_problem("xgboost")
    assert problem is not None and not problem.skip
    assert (
        problem.message == "the MLServer runtime for 'xgboost' (mlserver-xgboost) is not installed"
    )
    assert (
        problem.hint == "install it into this environment: pip install 'mlserver-xgboost>=1.7,<1.8'"
    )


@pytest.mark.parametrize(
    ("log", "message", "port_in_use"),
    [
        pytest.param(
            "ERROR: [Errno 98] error while attempting to bind on address ('127.0.0.1', 8700): "
            "address already in use",
            "port 8700 is already in use by another program",
            True,
            id="port",
        ),
        pytest.param(
            "ModuleNotFoundError: No module named 'mlserver_sklearn'",
            "the model server cannot import 'mlserver_sklearn'",
            False,
            id="module",
        ),
        pytest.param(
            "something else went wrong", "the model server exited with status 1", False, id="other"
        ),
    ],
)
def test_start_failures_are_explained(
    tmp_path: Path, log: str, message: str, port_in_use: bool
) -> None:
    path = tmp_path / "server.log"
    path.write_text("an earlier start: [Errno 98] address already in use\n")
    offset = path.stat().st_size  # only what this start wrote counts
    with path.open("a") as handle:
        handle.write(f"starting\n{log}\n")
    failure = serving.explain_exit(1, path, offset, 8700)
    assert failure.message == message
    assert failure.port_in_use is port_in_use
    assert failure.tail[-1] == log


def test_example_request_with_feature_names() -> None:
    request = serving.example_request(
        version(features=["amount", "it's"], n_features=2, outputs=["predict", "predict_proba"])
    )
    assert request == {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "amount", "shape": [1], "datatype": "FP64", "data": [0.0]},
            {"name": "it's", "shape": [1], "datatype": "FP64", "data": [0.0]},
        ],
        "outputs": [{"name": "predict_proba"}],
    }
    line = serving.curl_line("http://127.0.0.1:8700/v2/models/m", request)
    words = shlex.split(line)  # the quote in a feature name survives the shell
    assert words[:4] == ["curl", "-s", "-X", "POST"]
    assert json.loads(words[-1]) == request


def test_example_request_from_the_feature_count_or_an_example() -> None:
    assert serving.example_request(version(n_features=3)) == {
        "inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [0.0] * 3}]
    }
    with_example = serving.example_request(
        version(features=["a", "b"], input_example={"a": 5, "b": 1.5})
    )
    assert with_example is not None
    assert [(i["datatype"], i["data"]) for i in with_example["inputs"]] == [
        ("INT64", [5]),
        ("FP64", [1.5]),
    ]
    assert serving.example_request(version()) is None
