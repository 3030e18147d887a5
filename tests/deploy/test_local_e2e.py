"""End to end on this machine: deploy the example organisation, predict, redeploy, change, down.

One deployment (module fixture) in a temporary state folder and build folder; its model
servers are stopped at teardown whatever happens.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.deploy.local import processes, serving
from compiler.deploy.local.state import LocalState, load_state
from tests.conftest import CONFIGS

pytestmark = pytest.mark.e2e

SEARCH_CHANGE = "teams.search.pipelines.train-search-ranker.parameters.max_depth.default=4"


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float


@dataclass
class Deployment:
    state_dir: Path
    build_dir: Path
    outcomes: list[Outcome] = field(default_factory=list)

    def mlplat(self, command: str, *args: str) -> Outcome:
        out, err = io.StringIO(), io.StringIO()
        argv = [command, "--state-dir", str(self.state_dir), *args]
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        return Outcome(code, out.getvalue(), err.getvalue(), time.monotonic() - started)

    def deploy(self, *overrides: str) -> Outcome:
        outcome = self.mlplat(
            "deploy", "--configs", str(CONFIGS), "--build-dir", str(self.build_dir), *overrides
        )
        self.outcomes.append(outcome)
        assert outcome.code == 0, outcome.err + outcome.out
        return outcome

    @property
    def state(self) -> LocalState:
        state = load_state(self.state_dir / "state.json")
        assert state is not None
        return state

    def pid(self, endpoint: str) -> int | None:
        return self.state.endpoints[endpoint].pid

    def predict(self, endpoint: str) -> dict:
        state = self.state
        rec = state.endpoints[endpoint]
        assert rec.status == "serving" and rec.url, rec
        model = next(m for m in state.models.values() if m.registry_name == rec.registry_name)
        version = model.get(rec.version or 0)
        assert version is not None
        request = serving.example_request(version)
        assert request is not None
        return serving.infer(rec.url, request)

    def stop_everything(self) -> None:
        with contextlib.suppress(Exception):
            self.mlplat("down")
        state = load_state(self.state_dir / "state.json") if self.state_dir.exists() else None
        for rec in state.endpoints.values() if state else ():
            folder = self.state_dir.resolve() / (rec.server_dir or "")
            if rec.pid and processes.is_server(rec.pid, folder):
                processes.stop(rec.pid, timeout=5)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("local")
    deployment = Deployment(state_dir=root / "state", build_dir=root / "build")
    try:
        deployment.deploy()
        yield deployment
    finally:
        deployment.stop_everything()


def test_first_deploy_trains_registers_and_serves(local: Deployment) -> None:
    first = local.outcomes[0]
    assert "pipeline fraud/train-fraud-model: succeeded" in first.err
    assert "pipeline search/train-search-ranker: succeeded" in first.err
    assert (
        "pipeline search/embed-catalog: skipped: container step 'embed' needs Docker" in first.err
    )
    assert "endpoint recsys/ranker: skipped: runtime 'triton'" in first.err
    state = local.state
    assert {k: e.status for k, e in state.endpoints.items()} == {
        "chargeback/chargeback-scorer": "serving",
        "forecast/demand-forecast": "serving",
        "fraud/fraud-scorer": "serving",
        "search/search-ranker": "serving",
        "recsys/ranker": "skipped",
    }
    fraud = state.models["fraud/fraud-classifier"]
    assert [v.version for v in fraud.versions] == [1]
    assert fraud.aliases == {"staging": 1}
    assert fraud.versions[0].metrics["roc_auc"] > 0.85
    assert fraud.versions[0].card_check == "passed"
    assert state.models["recsys/recsys-ranker"].versions == []


def test_endpoints_answer_v2_inference_requests(local: Deployment) -> None:
    for endpoint in ("fraud/fraud-scorer", "search/search-ranker"):
        response = local.predict(endpoint)
        assert response["model_version"] == "1"
        (output,) = response["outputs"]
        assert output["name"] == "predict_proba" and output["shape"] == [1, 2]
        assert sum(output["data"]) == pytest.approx(1.0)


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine")
def test_the_printed_curl_line_works(local: Deployment) -> None:
    lines = [line.strip() for line in local.outcomes[0].out.splitlines()]
    curls = [line for line in lines if line.startswith("curl ")]
    assert len(curls) == 4
    expected = {"/demand-forecast/": "predict"}  # the TorchScript regressor; the rest classify
    for curl in curls:
        answer = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30)
        assert answer.returncode == 0, answer.stderr
        name = next((v for k, v in expected.items() if k in curl), "predict_proba")
        assert json.loads(answer.stdout)["outputs"][0]["name"] == name, answer.stdout


def test_models_are_in_the_mlflow_registry(local: Deployment) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{local.state_dir.resolve() / 'registry' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias("fraud.fraud-classifier", "staging")
    assert int(version.version) == 1
    assert version.tags["mlplat.pipeline"] == "train-fraud-model"
    assert version.tags["mlplat.stage"] == "staging"
    assert version.tags["mlplat.spec_hash"] == local.state.spec_hash
    assert version.tags["mlplat.git_commit"]
    run = client.get_run(version.run_id)
    assert run.data.metrics["roc_auc"] > 0.85
    assert run.data.tags["mlplat.run_id"] == version.tags["mlplat.run_id"]


def test_the_distributed_step_ran_on_two_ranks_and_is_served(local: Deployment) -> None:
    state = local.state
    assert "pipeline forecast/train-forecaster: succeeded" in local.outcomes[0].err
    version = state.models["forecast/demand-forecaster"].versions[0]
    assert version.metrics["world_size"] == 2
    assert version.metrics["rank_weight_spread"] == 0.0
    assert version.metrics["val_mse"] < 0.2 * version.metrics["initial_val_mse"]
    assert version.card_check == "passed"
    log = (local.state_dir / state.pipelines["forecast/train-forecaster"].last_run.log).read_text()
    assert "[mlplat] torchrun: 2 processes, backend gloo" in log
    response = local.predict("forecast/demand-forecast")
    (output,) = response["outputs"]
    assert output["name"] == "predict" and output["shape"] == [1, 1]
    level = [10.0, 11.0, 12.0, 11.0, 10.0, 9.0, 10.0] * 2
    record = state.endpoints["forecast/demand-forecast"]
    request = {"inputs": [{"name": "window", "shape": [1, 14], "datatype": "FP64", "data": level}]}
    forecast = serving.infer(record.url or "", request)["outputs"][0]["data"][0]
    assert 7.0 < forecast < 14.0  # a demand level like the window's, not noise


def test_the_sweep_ran_its_trials_and_registered_the_best(local: Deployment) -> None:
    from mlflow import MlflowClient

    state = local.state
    run = state.pipelines["forecast/tune-forecaster"].last_run
    assert run is not None and run.tuning is not None
    trials = run.tuning["trials"]
    assert len(trials) >= 8 and all(t["status"] == "succeeded" for t in trials)
    best, default = run.tuning["best"], run.tuning["default"]
    assert default["params"] == {"hidden": 8, "learning_rate": 0.0003}
    assert best["value"] == min(t["value"] for t in trials)
    assert best["value"] < default["value"]
    version = state.models["forecast/demand-forecaster-tuned"].versions[0]
    assert version.metrics["val_mse"] == pytest.approx(best["value"])
    uri = f"sqlite:///{local.state_dir.resolve() / 'registry' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    parent = client.get_run(version.mlflow_run_id)
    assert parent.data.params["learning_rate"] == str(best["params"]["learning_rate"])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
    )
    assert len(children) == len(trials)
    assert sorted(c.data.metrics["val_mse"] for c in children) == sorted(t["value"] for t in trials)


def test_a_second_deploy_changes_nothing(local: Deployment) -> None:
    pids = {k: e.pid for k, e in local.state.endpoints.items()}
    again = local.deploy()
    assert "ok: no changes" in again.out
    assert "running" not in again.err and "starting" not in again.err
    assert {k: e.pid for k, e in local.state.endpoints.items()} == pids


def test_changing_one_pipeline_reruns_only_it(local: Deployment) -> None:
    fraud_pid = local.pid("fraud/fraud-scorer")
    changed = local.deploy(SEARCH_CHANGE)
    assert "pipeline search/train-search-ranker: running 2 steps (its spec or code changed)" in (
        changed.err
    )
    assert "fraud/train-fraud-model: running" not in changed.err
    assert "endpoint search/search-ranker: starting search.search-ranker v2" in changed.err
    assert "fraud/fraud-scorer: starting" not in changed.err
    assert local.pid("fraud/fraud-scorer") == fraud_pid
    assert local.predict("search/search-ranker")["model_version"] == "2"


def test_a_crashed_endpoint_is_restarted(local: Deployment) -> None:
    search_pid = local.pid("search/search-ranker")
    fraud_pid = local.pid("fraud/fraud-scorer")
    assert fraud_pid is not None
    os.kill(fraud_pid, signal.SIGKILL)
    restarted = local.deploy(SEARCH_CHANGE)
    assert (
        "endpoint fraud/fraud-scorer: starting fraud.fraud-classifier v1 (it was not running"
        in (restarted.err)
    )
    assert "pipeline" not in restarted.err.replace("pipelines:", "")
    assert local.pid("search/search-ranker") == search_pid
    assert local.predict("fraud/fraud-scorer")["model_version"] == "1"


def test_a_failing_step_keeps_the_previous_run_and_other_teams(local: Deployment) -> None:
    fraud_pid, search_pid = local.pid("fraud/fraud-scorer"), local.pid("search/search-ranker")
    broken = local.mlplat(
        "deploy",
        "--configs",
        str(CONFIGS),
        "--build-dir",
        str(local.build_dir),
        SEARCH_CHANGE,
        "teams.fraud.pipelines.train-fraud-model.parameters.n_samples.default=10",
    )
    assert broken.code == 1
    lines = (CONFIGS / "teams" / "fraud.yaml").read_text().splitlines()
    step_line = lines.index("      make-dataset:") + 2  # the step's first key, 1-based
    located = re.search(r"teams/fraud\.yaml:(\d+):(\d+): error\[L100\]: (.*)", broken.err)
    assert located is not None, broken.err
    assert (int(located[1]), int(located[2])) == (step_line, 9)
    assert (
        located[3] == "pipeline 'train-fraud-model' of team 'fraud' failed at step 'make-dataset'"
    )
    assert "| ValueError: n_samples must be at least 100, got 10" in broken.err
    assert "the previous run and its models stay in place" in broken.err
    state = local.state
    assert state.pipelines["fraud/train-fraud-model"].status == "failed"
    assert state.pipelines["search/train-search-ranker"].status == "succeeded"
    assert [v.version for v in state.models["fraud/fraud-classifier"].versions] == [1]
    assert (local.pid("fraud/fraud-scorer"), local.pid("search/search-ranker")) == (
        fraud_pid,
        search_pid,
    )
    assert local.predict("fraud/fraud-scorer")["model_version"] == "1"

    reverted = local.deploy(SEARCH_CHANGE)
    assert "pipeline fraud/train-fraud-model: unchanged since run" in reverted.err
    assert "running" not in reverted.err
    assert local.state.pipelines["fraud/train-fraud-model"].status == "succeeded"


def test_an_entity_id_alone_gets_the_model_on_the_online_features(local: Deployment) -> None:
    """The V2 request carries card ids only; the answer is the registered model's prediction
    on the features read back from the online store by Feast's SDK (the on-demand one,
    avg_amount_7d, computed by Feast from them)."""
    import joblib
    import pandas as pd

    from compiler.deploy.local.features import FeastWorker, repo_dir

    rec = local.state.endpoints["chargeback/chargeback-scorer"]
    assert rec.url is not None and rec.request is not None
    assert [i["name"] for i in rec.request["inputs"]] == ["card_id"]
    cards = [1000, 1003, 1050, 1119]
    request = {
        "inputs": [{"name": "card_id", "shape": [4], "datatype": "INT64", "data": cards}],
        "outputs": [{"name": "predict_proba"}],
    }
    (output,) = serving.infer(rec.url, request)["outputs"]
    served = [output["data"][i * 2 + 1] for i in range(len(cards))]

    worker = FeastWorker(repo_dir(local.state_dir.resolve()), local.state_dir / "test-worker.log")
    worker.start()
    try:
        online = worker.call(
            "online", service="chargeback__chargeback_v1", entities={"card_id": cards}
        )
    finally:
        worker.close()
    columns = [
        "card_age_days",
        "credit_limit",
        "tx_count_7d",
        "amount_sum_7d",
        "chargeback_rate_90d",
        "avg_amount_7d",
    ]
    frame = pd.DataFrame({c: online[c] for c in columns}).astype("float64")
    habit = [
        s / (n + 1) for s, n in zip(online["amount_sum_7d"], online["tx_count_7d"], strict=True)
    ]
    assert list(frame["avg_amount_7d"]) == pytest.approx(habit)
    model = local.state.models["chargeback/chargeback-risk"].latest()
    assert model is not None and model.features == columns
    classifier = joblib.load(model.model_path)
    assert served == pytest.approx(list(classifier.predict_proba(frame)[:, 1]), abs=1e-12)
    assert len(set(served)) == len(cards)  # the features differ per card, and so do the answers

    with pytest.raises(urllib.error.HTTPError) as unknown:
        serving.infer(rec.url, {"inputs": [{**request["inputs"][0], "shape": [1], "data": [7]}]})
    assert unknown.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as no_key:
        serving.infer(rec.url, {"inputs": [{**request["inputs"][0], "name": "card"}]})
    assert no_key.value.code == 400
    assert "the request needs the input(s) card_id" in no_key.value.read().decode()


def test_a_source_written_by_a_step_is_published_and_materialized(local: Deployment) -> None:
    """Source card-chargebacks is the labels the training pipeline's first step writes: its
    publish step puts them in the store, and the deploy materializes the view after the run;
    online, each card has its latest label. The reviewers' service also computes the payment
    against the card's habits from the amount each request carries (an on-demand view's
    request value)."""
    import pandas as pd

    from compiler.deploy.local.features import FeastWorker, repo_dir

    first = local.outcomes[0].err
    assert "make-labels-publish-card-chargebacks  ok" in first
    assert "features: materialized chargeback__card_chargebacks (published by a pipeline)" in first
    run = local.state.pipelines["chargeback/train-chargeback-model"].last_success
    assert run is not None
    labels = pd.read_parquet(run.outputs["make-labels"]["labels"].uri.removeprefix("file://"))
    repo = repo_dir(local.state_dir.resolve())
    published = pd.read_parquet(repo / "sources" / "chargeback" / "card-chargebacks.parquet")
    assert published.equals(labels)
    latest = labels.sort_values("event_timestamp").groupby("card_id").last()["chargeback"]
    cards = [1000, 1001, 1002, 1003]
    worker = FeastWorker(repo, local.state_dir / "test-worker.log")
    worker.start()
    try:
        amounts = [12.5, 80.0, 250.0, 31.0]
        online = worker.call(
            "online",
            service="chargeback__review_v1",
            entities={"card_id": cards, "amount": amounts},
        )
        activity = worker.call(
            "online", service="chargeback__chargeback_v1", entities={"card_id": cards}
        )
    finally:
        worker.close()
    assert online["chargeback"] == [int(latest[c]) for c in cards]
    share = [a / (s + 1) for a, s in zip(amounts, activity["amount_sum_7d"], strict=True)]
    assert online["amount_share_7d"] == pytest.approx(share)


def test_the_feature_server_answers_past_a_thousand_requests(local: Deployment) -> None:
    """Feast's server restarts its one worker every ~1,000 requests by default, dropping the
    request in flight; the local server runs without those restarts."""
    from compiler.deploy.local.ports import HOST
    from compiler.features.online import fetch_online

    features = local.state.features
    assert features is not None and features.server_port
    url = f"http://{HOST}:{features.server_port}"
    entities = {"card_id": [1000], "amount": [10.0]}
    answers = [fetch_online(url, "chargeback__chargeback_v1", entities) for _ in range(1100)]
    assert all(a["tx_count_7d"] == answers[0]["tx_count_7d"] for a in answers)


def test_the_training_frame_is_the_services_join(local: Deployment) -> None:
    import pandas as pd

    run = local.state.pipelines["chargeback/train-chargeback-model"].last_success
    assert run is not None and run.steps["train-features"] == "SUCCESS"
    frame_out = run.outputs["train-features"]["frame"]
    assert frame_out.metadata["features"] == [
        "card_age_days", "credit_limit", "tx_count_7d", "amount_sum_7d", "chargeback_rate_90d",
        "avg_amount_7d",
    ]  # fmt: skip
    frame = pd.read_parquet(frame_out.uri.removeprefix("file://"))
    labels = pd.read_parquet(run.outputs["make-labels"]["labels"].uri.removeprefix("file://"))
    assert list(frame.columns[:4]) == ["card_id", "event_timestamp", "amount", "chargeback"]
    assert 0 < len(frame) <= len(labels) and frame["credit_limit"].notna().all()
    # the on-demand feature of each row, computed in the join from its point-in-time features
    habit = frame["amount_sum_7d"] / (frame["tx_count_7d"] + 1)
    assert list(frame["avg_amount_7d"].dropna()) == pytest.approx(list(habit.dropna()))


def test_a_changed_view_is_applied_and_only_it_materialized(local: Deployment) -> None:
    pids = {k: e.pid for k, e in local.state.endpoints.items()}
    changed = local.deploy(SEARCH_CHANGE, "teams.chargeback.feature_views.card-activity.ttl=8d")
    assert "features: applied the Feast repository" in changed.err
    assert "features: materialized chargeback__card_activity in" in changed.err
    assert "chargeback__card_profile" not in changed.err
    assert "pipeline" not in changed.err.replace("pipelines:", "")
    assert {k: e.pid for k, e in local.state.endpoints.items()} == pids
    again = local.deploy(SEARCH_CHANGE, "teams.chargeback.feature_views.card-activity.ttl=8d")
    assert "ok: no changes" in again.out and "features:" not in again.err


def test_status_shows_the_deployment(local: Deployment) -> None:
    text = local.mlplat("status")
    assert text.code == 0
    assert re.search(r"search/train-search-ranker +succeeded", text.out)
    search_model = next(line for line in text.out.splitlines() if "search/search-ranker  " in line)
    assert "search.search-ranker v2" in search_model and "@staging" in search_model
    fraud_line = next(line for line in text.out.splitlines() if "fraud/fraud-scorer" in line)
    assert " ready " in fraud_line and "/v2/models/fraud-scorer" in fraud_line
    data = json.loads(local.mlplat("status", "--format", "json").out)
    assert data["endpoints"]["search/search-ranker"]["ready"] is True


def test_down_stops_the_servers_and_keeps_the_data(local: Deployment) -> None:
    pids = [e.pid for e in local.state.endpoints.values() if e.pid]
    urls = [e.url for e in local.state.endpoints.values() if e.status == "serving"]
    down = local.mlplat("down")
    assert down.code == 0 and "ok: stopped 4 endpoints" in down.out
    assert not any(processes.is_alive(pid) for pid in pids)
    assert not any(serving.http_ok(f"{url}/ready") for url in urls if url)
    assert {e.status for e in local.state.endpoints.values()} == {"stopped", "skipped"}
    assert (local.state_dir / "registry" / "mlflow.db").exists()
    assert local.state.models["search/search-ranker"].latest() is not None
