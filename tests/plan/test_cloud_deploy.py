"""Cloud deploy stops before changing anything when something it needs is missing, and says
what and how to get it. (There is no Pulumi CLI and no cloud account here: the applying half
runs only where they exist.)"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from compiler.cli import Console
from compiler.deploy.cloud import (
    Environment,
    PreviewStep,
    aws_credentials_source,
    deploy_cloud,
    pipeline_uploads,
    preflight,
    sync_schedule,
    upload_pipeline,
)
from compiler.frontend import load_platform
from tests.platform_iac.planning import CONFIGS

READY = {
    "AWS_ACCESS_KEY_ID": "AKIA...",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "PULUMI_CONFIG_PASSPHRASE": "pass",
}


@pytest.fixture(scope="module")
def prod():
    return load_platform(CONFIGS, ["env=prod"])


@pytest.fixture(scope="module")
def build(prod, tmp_path_factory) -> Path:
    from compiler.build import compile_outputs

    folder = tmp_path_factory.mktemp("build")
    compile_outputs(prod, folder)
    return folder


@pytest.fixture()
def listening():
    """A reachable endpoint: a socket listening on localhost."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def _codes(problems) -> list[str]:
    return [p.code for p in problems]


@pytest.mark.skipif(shutil.which("pulumi") is not None, reason="checks the machine without Pulumi")
def test_without_the_pulumi_cli_nothing_changes(prod, build, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.as_posix() for p in build.rglob("*"))
    code = deploy_cloud(prod, build_dir=build, console=Console(), allow_destroy=False, yes=True)
    err = capsys.readouterr().err
    assert code == 1
    assert "error[C100]: the Pulumi CLI is not installed (no `pulumi` on PATH)" in err
    assert "curl -fsSL https://get.pulumi.com | sh" in err
    assert err.rstrip().endswith("mlplat: nothing was changed")
    assert sorted(p.as_posix() for p in build.rglob("*")) == before
    assert list(tmp_path.iterdir()) == []


def test_everything_present_passes(prod, build, listening, tmp_path):
    ir = prod.ir.model_copy(
        update={
            "platform": prod.ir.platform.model_copy(
                update={"kfp": prod.ir.platform.kfp.model_copy(update={"endpoint": listening})}
            )
        }
    )
    ready = type(prod)(ir, prod.diagnostics, prod.composed)
    where = Environment(env=READY, home=tmp_path, which=lambda _n: "/usr/local/bin/pulumi")
    assert preflight(ready, build, where) == []


def test_each_missing_piece_is_one_diagnostic_with_its_place(prod, build, tmp_path):
    where = Environment(env={}, home=tmp_path, which=lambda _n: None, connect_timeout=0.5)
    problems = {p.code: p for p in preflight(prod, build, where)}
    assert sorted(problems) == ["C100", "C101", "C102", "C105"]
    assert "no AWS credentials found for deploying 'prod' to eu-west-1" in problems["C101"].message
    assert problems["C105"].span.file.endswith("env/prod.yaml")  # where backend_url is set
    assert "kfp.prod.acme.example is not reachable" in problems["C102"].message
    assert "MLPLAT_SKIP_PIPELINE_UPLOAD=1" in (problems["C102"].hint or "")
    skip = Environment(
        env={"MLPLAT_SKIP_PIPELINE_UPLOAD": "1"}, home=tmp_path, which=lambda _n: None
    )
    assert "C102" not in _codes(preflight(prod, build, skip))


def test_missing_compiled_pipelines(prod, tmp_path):
    where = Environment(
        env={**READY, "MLPLAT_SKIP_PIPELINE_UPLOAD": "1"}, home=tmp_path, which=lambda _n: "pulumi"
    )
    (problem,) = preflight(prod, tmp_path / "empty", where)
    assert problem.code == "C104" and "mlplat compile --env prod" in (problem.hint or "")


@pytest.mark.parametrize(
    ("env", "files", "found"),
    [
        ({}, {}, None),
        (
            {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
            {},
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ),
        ({"AWS_ACCESS_KEY_ID": "a"}, {}, None),
        ({"AWS_PROFILE": "ops"}, {"config": "[profile ops]\nsso_session = x\n"}, "profile 'ops'"),
        ({"AWS_PROFILE": "ops"}, {"config": "[profile dev]\n"}, None),
        ({}, {"credentials": "[default]\naws_access_key_id = a\n"}, "profile 'default'"),
        ({"AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn"}, {}, "web identity"),
    ],
)
def test_aws_credentials_are_found_without_calling_aws(tmp_path, env, files, found):
    (tmp_path / ".aws").mkdir()
    for name, text in files.items():
        (tmp_path / ".aws" / name).write_text(text)
    source = aws_credentials_source(env, tmp_path)
    assert (source is None) if found is None else (found in (source or ""))


def test_destructive_preview_steps_use_the_plan_rules():
    assert PreviewStep("delete", "urn::b", "aws:s3/bucket:Bucket", False).destructive
    assert PreviewStep("replace", "urn::r", "aws:iam/role:Role", True).destructive
    assert not PreviewStep("replace", "urn::g", "aws:eks/nodeGroup:NodeGroup", False).destructive
    assert not PreviewStep("update", "urn::b", "aws:s3/bucket:Bucket", True).destructive


def test_pipeline_uploads_come_from_the_build(prod, build):
    uploads = {f"{u.team}/{u.name}": u for u in pipeline_uploads(prod.ir, build / "prod")}
    assert sorted(uploads) == [
        "chargeback/train-chargeback-model",
        "forecast/train-forecaster",
        "forecast/tune-forecaster",
        "fraud/train-fraud-model",
        "recsys/train-ranker",
        "search/embed-catalog",
        "search/train-search-ranker",
    ]
    fraud = uploads["fraud/train-fraud-model"]
    assert fraud.namespace == "team-fraud" and fraud.version.startswith("train-fraud-model-")
    assert (
        fraud.schedule is not None
        and fraud.schedule["recurring_run"]["cron_expression"] == "0 0 3 * * *"
    )
    assert uploads["search/train-search-ranker"].schedule is None


class KubeflowDouble:
    """The part of kfp.Client that deploy uses, in memory: checks what deploy asks for."""

    def __init__(self):
        self.pipelines, self.versions, self.runs, self.calls = {}, {}, {}, []

    @staticmethod
    def _name(filter_text):
        return json.loads(filter_text)["predicates"][0]["stringValue"]

    def list_pipelines(self, filter, namespace):
        found = [p for p in self.pipelines.values() if p.display_name == self._name(filter)]
        return _Obj(pipelines=found or None)

    def upload_pipeline(self, path, pipeline_name, description, namespace):
        self.calls.append(("upload_pipeline", pipeline_name, namespace))
        pipeline = _Obj(pipeline_id=f"p-{pipeline_name}", display_name=pipeline_name)
        self.pipelines[pipeline.pipeline_id] = pipeline
        return pipeline

    def list_pipeline_versions(self, pipeline_id, filter):
        found = [
            v for v in self.versions.get(pipeline_id, []) if v.display_name == self._name(filter)
        ]
        return _Obj(pipeline_versions=found or None)

    def upload_pipeline_version(self, path, pipeline_version_name, pipeline_id, description):
        self.calls.append(("upload_pipeline_version", pipeline_version_name))
        version = _Obj(
            pipeline_version_id=f"v-{pipeline_version_name}", display_name=pipeline_version_name
        )
        self.versions.setdefault(pipeline_id, []).append(version)
        return version

    def create_experiment(self, name, namespace):
        return _Obj(experiment_id=f"e-{namespace}-{name}")

    def list_recurring_runs(self, experiment_id, filter):
        found = [r for r in self.runs.values() if r.display_name == self._name(filter)]
        return _Obj(recurring_runs=found or None)

    def create_recurring_run(self, experiment_id, job_name, pipeline_id, version_id, **spec):
        self.calls.append(
            ("create_recurring_run", job_name, spec["cron_expression"], spec["service_account"])
        )
        run = _Obj(
            recurring_run_id=f"r-{len(self.runs)}",
            display_name=job_name,
            pipeline_version_reference=_Obj(pipeline_version_id=version_id),
        )
        self.runs[run.recurring_run_id] = run

    def delete_recurring_run(self, run_id):
        self.calls.append(("delete_recurring_run", run_id))
        del self.runs[run_id]

    def disable_recurring_run(self, run_id):
        self.calls.append(("disable_recurring_run", run_id))


class _Obj:
    def __init__(self, **fields):
        self.__dict__.update(fields)


def test_uploads_are_idempotent_and_schedules_follow_the_version(prod, build):
    (upload,) = [
        u for u in pipeline_uploads(prod.ir, build / "prod") if u.name == "train-fraud-model"
    ]
    kfp = KubeflowDouble()
    pipeline_id, version_id, uploaded = upload_pipeline(kfp, upload)
    assert uploaded and sync_schedule(kfp, upload, pipeline_id, version_id) == "schedule created"
    assert upload_pipeline(kfp, upload) == (pipeline_id, version_id, False)
    assert sync_schedule(kfp, upload, pipeline_id, version_id) == "schedule unchanged"
    assert kfp.calls == [
        ("upload_pipeline", "train-fraud-model", "team-fraud"),
        ("upload_pipeline_version", upload.version),
        ("create_recurring_run", "train-fraud-model-schedule", "0 0 3 * * *", "fraud-workload"),
    ]
    unscheduled = replace(upload, schedule=None)
    assert sync_schedule(kfp, unscheduled, pipeline_id, version_id) == "disabled 1 recurring run(s)"


class _DeployedStack:
    """The stack as the last deploy left it: its outputs; nothing may be applied."""

    def __init__(self, outputs: dict) -> None:
        from pulumi import automation as auto

        self._outputs = {k: auto.OutputValue(v, False) for k, v in outputs.items()}
        self.applied = False

    def outputs(self) -> dict:
        return self._outputs

    def up(self, **_kwargs) -> None:
        self.applied = True


def _deploy_against(prod, build, monkeypatch, outputs: dict, allow_destroy: bool):
    from compiler.deploy import cloud

    stack = _DeployedStack(outputs)
    monkeypatch.setattr(cloud, "preflight", lambda *_a, **_k: [])
    monkeypatch.setattr(cloud, "open_stack", lambda *_a: stack)
    monkeypatch.setattr(cloud, "preview", lambda *_a: [])  # no resource changes at all
    monkeypatch.setenv(cloud.SKIP_UPLOAD_ENV, "1")
    code = deploy_cloud(
        prod, build_dir=build, console=Console(), allow_destroy=allow_destroy, yes=True
    )
    return code, stack


def test_a_feature_change_that_breaks_a_serving_model_is_refused(prod, build, monkeypatch, capsys):
    from compiler.plan.features import snapshot

    deployed = snapshot(prod.ir)
    view = deployed["views"]["chargeback__card_activity"]
    served = deployed["served"]["chargeback__card_activity"]
    assert "tx_count_7d" in served and view["features"]["tx_count_7d"] == "int64"
    view["features"]["tx_count_7d"] = "float64"  # what the stack serves was trained as float64
    code, stack = _deploy_against(prod, build, monkeypatch, {"feature_views": deployed}, False)
    err = capsys.readouterr().err
    assert code == 1 and not stack.applied
    assert (
        "error[C109]: 1 feature view change(s) would break serving models: changed "
        "chargeback/card-activity (feature `tx_count_7d`: float64 → int64) breaks "
        "chargeback/chargeback-scorer"
    ) in err
    assert "deploy again with --allow-destroy" in err
    assert err.rstrip().endswith("mlplat: nothing was changed")
    code, stack = _deploy_against(prod, build, monkeypatch, {"feature_views": deployed}, True)
    assert code == 0 and "error[C109]" not in capsys.readouterr().err


def test_unchanged_or_first_deploys_pass_the_feature_gate(prod, build, monkeypatch, capsys):
    from compiler.plan.features import snapshot

    same = snapshot(prod.ir)
    for outputs in ({"feature_views": same}, {}):  # unchanged; a stack deployed before features
        code, _ = _deploy_against(prod, build, monkeypatch, outputs, False)
        assert code == 0, capsys.readouterr().err
