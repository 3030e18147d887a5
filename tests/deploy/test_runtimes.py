"""Bad requests to a real local endpoint (MLServer with the checked scikit-learn runtime) are
client errors naming the input, table-driven from cases/bad_requests.yaml; the endpoint stays
healthy and keeps answering good requests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler.deploy.local import processes, serving
from compiler.deploy.local.ports import allocate_ports
from compiler.deploy.local.state import ModelVersionRecord
from tests.helpers import load_cases

pytestmark = pytest.mark.e2e

CASES = load_cases(Path(__file__).parent / "cases" / "bad_requests.yaml")
ENDPOINT = "scorer"


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"body": raw.decode(errors="replace")}  # e.g. 'Internal Server Error'


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One model server for the module, on a free port, stopped whatever happens."""
    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("endpoint")
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0], "hour": [1.0, 5.0, 2.0, 8.0]})
    joblib.dump(LogisticRegression().fit(frame, [0, 1, 0, 1]), folder / "model.joblib")
    version = ModelVersionRecord(
        version=1,
        run_id="r",
        mlflow_run_id="m",
        pipeline_hash="h",
        model_path=str(folder / "model.joblib"),
        features=["amount", "hour"],
        n_features=2,
        outputs=["predict", "predict_proba"],
        registered_at="2026-01-01T00:00:00+00:00",
    )
    port, grpc_port = allocate_ports(2)
    server_dir = folder / "server"
    serving.write_server_folder(
        server_dir,
        endpoint=ENDPOINT,
        runtime="sklearn",
        version=version,
        port=port,
        grpc_port=grpc_port,
    )
    log = folder / "server.log"
    process = serving.start_server(server_dir, log)
    try:
        deadline = time.monotonic() + serving.READY_TIMEOUT
        while not serving.is_ready(port, ENDPOINT):
            assert process.poll() is None, serving.log_tail(log)
            assert time.monotonic() < deadline, serving.log_tail(log)
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v2/models/{ENDPOINT}"
    finally:
        processes.stop(process.pid, timeout=5)
        process.wait()


def _body(case: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": case["inputs"]}
    if "content_type" in case:
        body["parameters"] = {"content_type": case["content_type"]}
    return body


GOOD = {
    "parameters": {"content_type": "pd"},
    "inputs": [
        {"name": "amount", "shape": [2], "datatype": "FP64", "data": [1.0, 4.0]},
        {"name": "hour", "shape": [2], "datatype": "INT64", "data": [1, 8]},
    ],
    "outputs": [{"name": "predict_proba"}],
}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_a_bad_request_is_a_client_error_naming_the_input(
    endpoint: str, case: dict[str, Any]
) -> None:
    status, body = post(endpoint, _body(case))
    assert (status, body) == (case["status"], {"error": case["error"]})


def test_the_endpoint_stays_healthy_and_answers_good_requests(endpoint: str) -> None:
    for case in CASES:
        post(endpoint, _body(case))
    assert serving.is_ready(int(endpoint.split(":")[2].split("/")[0]), ENDPOINT)
    status, body = post(endpoint, GOOD)
    assert status == 200, body
    (output,) = body["outputs"]
    assert output["name"] == "predict_proba" and output["shape"] == [2, 2]
    matrix = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}
    assert post(endpoint, matrix)[0] == 200
