"""Every pipeline of the example organisation compiles in every environment, loads back with
kfp's own loader, and its DAG matches the spec: steps, edges, parameters, resources, placement."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from compiler.build import compile_files
from compiler.frontend import FrontendResult
from compiler.ir import GPU_MODEL_LABEL, NODE_POOL_LABEL, Pipeline, PlatformIR, Step
from compiler.kfp_backend import (
    GPU_RESOURCE,
    build_pipeline,
    compile_all,
    compile_pipeline,
    kfp_cron,
    package_path,
    schedule_path,
)
from compiler.kfp_backend.distributed import task_step
from compiler.kfp_backend.task_config import RUN_AS_GROUP, RUN_AS_USER, TEAM_LABEL
from compiler.kfp_backend.training_files import training_files
from schemas.types import format_cpu, format_memory
from tests.compiler.kfp_backend.loaded import LoadedPipeline, load

ENVS = ("local", "dev", "prod")
KFP_PARAMETER_TYPES = {
    "str": "STRING",
    "int": "NUMBER_INTEGER",
    "float": "NUMBER_DOUBLE",
    "bool": "BOOLEAN",
    "list": "LIST",
    "dict": "STRUCT",
}


@pytest.fixture(scope="module")
def compiled(example_ir) -> Callable[[str], tuple[PlatformIR, dict[str, str]]]:
    cache: dict[str, tuple[PlatformIR, dict[str, str]]] = {}

    def get(env: str) -> tuple[PlatformIR, dict[str, str]]:
        if env not in cache:
            result: FrontendResult = example_ir(env)
            assert result.ir is not None
            files, diagnostics = compile_all(result.ir, result.sources.locate)
            assert diagnostics == []
            cache[env] = (result.ir, files)
        return cache[env]

    return get


def _check_inputs(step: Step, task, loaded: LoadedPipeline, pipeline: Pipeline) -> None:
    for name, fed in step.inputs.items():
        if fed.source == "param":
            assert task.inputs.parameters[name].component_input_parameter == fed.param
        elif fed.source == "value":
            constant = json_format.MessageToDict(
                task.inputs.parameters[name].runtime_value.constant
            )
            assert constant == pytest.approx(fed.value)
        elif pipeline.steps[fed.step].outputs[fed.output] in KFP_PARAMETER_TYPES:
            source = task.inputs.parameters[name].task_output_parameter
            assert source.producer_task == fed.step
            assert source.output_parameter_key in loaded.outputs[fed.step]
        else:
            source = task.inputs.artifacts[name].task_output_artifact
            assert (source.producer_task, source.output_artifact_key) == (fed.step, fed.output)


def _check_resources(step: Step, container: dict) -> None:
    resources = container["resources"]
    res = step.resources
    assert resources["resourceCpuRequest"] == format_cpu(res.cpu)
    assert resources["resourceCpuLimit"] == format_cpu(res.cpu_limit)
    assert resources["resourceMemoryRequest"] == format_memory(res.memory)
    assert resources["resourceMemoryLimit"] == format_memory(res.memory_limit)
    if res.gpu:
        assert resources["accelerator"]["resourceType"] == GPU_RESOURCE
        assert resources["accelerator"]["resourceCount"] == str(res.gpu)
    else:
        assert "accelerator" not in resources


def _check_kubernetes(ir: PlatformIR, pipeline: Pipeline, step: Step, k8s) -> None:
    selector = dict(k8s.node_selector.labels)
    assert selector[NODE_POOL_LABEL] == step.node_pool
    assert selector.get(GPU_MODEL_LABEL) == step.resources.gpu_model
    taints = {(t.key, t.value, t.effect) for t in ir.node_pools[step.node_pool].taints}
    assert {(t.key, t.value, t.effect) for t in k8s.tolerations} == taints
    assert k8s.active_deadline_seconds == step.timeout_seconds
    assert (k8s.security_context.run_as_user, k8s.security_context.run_as_group) == (
        RUN_AS_USER,
        RUN_AS_GROUP,
    )
    assert k8s.security_context.run_as_non_root is True
    assert k8s.pod_metadata.labels[TEAM_LABEL] == pipeline.team
    exposed = {
        (s.secret_name, m.env_var, m.secret_key) for s in k8s.secret_as_env for m in s.key_to_env
    }
    wanted = {(r.secret, var, key) for r in step.secrets for var, key in r.env.items()}
    assert exposed == wanted
    mounted = {(s.secret_name, s.mount_path) for s in k8s.secret_as_volume}
    assert mounted == {(r.secret, r.mount_path) for r in step.secrets if r.mount_path}


def check_pipeline(ir: PlatformIR, pipeline: Pipeline, text: str) -> None:
    loaded = load(text)
    spec = loaded.spec
    assert spec.pipeline_info.name == f"{pipeline.team}-{pipeline.name}"
    params = spec.root.input_definitions.parameters
    assert set(params) == set(pipeline.parameters)
    for name, param in pipeline.parameters.items():
        kind = pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name(params[name].parameter_type)
        assert kind == KFP_PARAMETER_TYPES[param.type], name
        if param.default is not None:
            default = json_format.MessageToDict(params[name].default_value)
            assert default == pytest.approx(param.default), name
    assert set(loaded.tasks) == set(pipeline.steps)
    for name, step in pipeline.steps.items():
        task = loaded.tasks[name]
        container = loaded.containers[name]
        assert set(task.dependent_tasks) == set(step.depends_on), name
        assert task.caching_options.enable_cache is step.caching
        assert task.retry_policy.max_retry_count == step.retry.attempts
        if step.retry.attempts:
            assert task.retry_policy.backoff_duration.seconds == step.retry.backoff
        _check_inputs(step, task, loaded, pipeline)
        assert len(loaded.outputs[name]) == len(step.outputs)
        runs_as = task_step(ir, pipeline, step)  # a cluster job's launcher, or the step itself
        _check_resources(runs_as, container)
        _check_kubernetes(ir, pipeline, runs_as, loaded.kubernetes[name])
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert {k: env[k] for k in step.env} == step.env
        if step.container is not None:
            assert container["image"] == step.container.image
            assert container["command"] == step.container.command
            assert len(container["args"]) == len(step.container.args)
        else:
            assert step.python is not None
            assert container["image"] == step.python.base_image
            function = step.python.function.split(":")[1]
            args = container["args"]
            if runs_as is not step:  # the launcher creates the job that runs the function
                job = json.loads(args[args.index("--resource") + 1])
                assert job["kind"] in {"TrainJob", "Experiment"}
                assert job["metadata"]["namespace"] == pipeline.namespace
            else:
                assert args[args.index("--function_to_execute") + 1] == function
            for package in step.python.packages:
                assert f"'{package}'" in container["command"][2]


@pytest.mark.parametrize("env", ENVS)
def test_every_pipeline_compiles_and_matches_its_spec(compiled, env):
    ir, files = compiled(env)
    pipelines = ir.pipelines()
    assert len(pipelines) >= 4
    expected = {package_path(p) for p in pipelines}
    expected |= {schedule_path(p) for p in pipelines if p.schedule is not None}
    expected |= {path for p in pipelines for path in training_files(ir, p)}
    assert set(files) == expected
    if ir.target != "local":  # the cluster gets each distributed step's TrainJob and each sweep
        assert any(path.endswith(".trainjob.yaml") for path in files)
        assert any(path.endswith(".experiment.yaml") for path in files)
    for pipeline in pipelines:
        check_pipeline(ir, pipeline, files[package_path(pipeline)])


def test_gpu_container_step_is_placed_on_its_pool(compiled):
    _, files = compiled("prod")
    loaded = load(files["pipelines/recsys/train-ranker.yaml"])
    train = loaded.kubernetes["train"]
    assert dict(train.node_selector.labels) == {
        NODE_POOL_LABEL: "gpu-a10g",
        GPU_MODEL_LABEL: "nvidia-a10g",
    }
    assert [(t.key, t.operator, t.effect) for t in train.tolerations] == [
        ("nvidia.com/gpu", "Equal", "NoSchedule")
    ]
    accelerator = loaded.containers["train"]["resources"]["accelerator"]
    assert accelerator == {
        "count": "1",
        "resourceCount": "1",
        "resourceType": GPU_RESOURCE,
        "type": GPU_RESOURCE,
    }
    embed = load(files["pipelines/search/embed-catalog.yaml"])
    assert embed.containers["embed"]["resources"]["accelerator"]["resourceCount"] == "8"
    assert embed.containers["embed"]["args"] == [
        "--out",
        "{{$.outputs.artifacts['embeddings'].path}}",
    ]


def test_pipeline_root_is_the_teams_artifacts_prefix_in_cloud_environments(compiled):
    _, prod = compiled("prod")
    _, local = compiled("local")
    assert load(prod["pipelines/fraud/train-fraud-model.yaml"]).spec.default_pipeline_root == (
        "s3://acme-prod-artifacts/fraud/pipeline-root"
    )
    assert load(local["pipelines/fraud/train-fraud-model.yaml"]).spec.default_pipeline_root == ""


def test_schedules_become_recurring_run_definitions(compiled):
    ir, files = compiled("prod")
    fraud = json.loads(files["pipelines/fraud/train-fraud-model.schedule.json"])
    assert fraud == {
        "experiment": {"name": "train-fraud-model", "namespace": "team-fraud"},
        "recurring_run": {
            "cron_expression": "0 0 3 * * *",
            "description": "fraud/train-fraud-model on cron '0 3 * * *' (UTC)",
            "enabled": True,
            "job_name": "train-fraud-model-schedule",
            "max_concurrency": 1,
            "no_catchup": True,
            "params": {},
            "pipeline_package_path": "pipelines/fraud/train-fraud-model.yaml",
            "service_account": "fraud-workload",
        },
        "schedule": {"cron": "0 3 * * *", "timezone": "UTC"},
    }
    for pipeline in ir.pipelines():
        if pipeline.schedule is not None:
            definition = json.loads(files[schedule_path(pipeline)])
            assert definition["recurring_run"]["cron_expression"] == kfp_cron(
                pipeline.schedule.cron
            )
            assert definition["recurring_run"]["service_account"] == pipeline.service_account
            assert definition["experiment"]["namespace"] == pipeline.namespace


def test_output_is_deterministic(compiled, example_ir):
    result = example_ir("prod")
    ir, files = compiled("prod")
    again, _ = compile_all(result.ir, result.sources.locate)
    assert again == files
    fraud = ir.teams["fraud"].pipelines["train-fraud-model"]
    assert compile_pipeline(ir, fraud) == files[package_path(fraud)]


def test_build_pipeline_returns_a_kfp_pipeline_with_the_spec_parameters(example_ir):
    ir = example_ir("local").ir
    graph = build_pipeline(ir, ir.teams["fraud"].pipelines["train-fraud-model"])
    assert graph.name == "fraud-train-fraud-model"
    assert set(graph.component_spec.inputs) == {"n_samples", "fraud_rate", "learning_rate"}


def test_compile_files_adds_pipelines_and_reports_progress(example_ir):
    seen: list[str] = []
    outcome = compile_files(example_ir("local"), seen.append)
    assert outcome.diagnostics == []
    assert "ir.json" in outcome.files
    assert "pipelines/search/embed-catalog.yaml" in outcome.files
    assert [m for m in seen if m.startswith("compiling")] == [
        "compiling pipeline chargeback/train-chargeback-model (1/7)",
        "compiling pipeline forecast/train-forecaster (2/7)",
        "compiling pipeline forecast/tune-forecaster (3/7)",
        "compiling pipeline fraud/train-fraud-model (4/7)",
        "compiling pipeline recsys/train-ranker (5/7)",
        "compiling pipeline search/embed-catalog (6/7)",
        "compiling pipeline search/train-search-ranker (7/7)",
    ]


def test_cloud_steps_and_their_jobs_log_to_the_environments_tracking_server(compiled):
    import yaml

    ir, files = compiled("prod")
    assert ir.platform.kfp.tracking_uri == "https://mlflow.prod.acme.example"
    for pipeline in ir.pipelines():
        loaded = load(files[package_path(pipeline)])
        wanted = {
            "MLFLOW_TRACKING_URI": "https://mlflow.prod.acme.example",
            "MLFLOW_EXPERIMENT_NAME": f"{pipeline.team}/{pipeline.name}",
        }
        for name in pipeline.steps:
            env = {e["name"]: e["value"] for e in loaded.containers[name].get("env", [])}
            assert {k: env.get(k) for k in wanted} == wanted, (pipeline.name, name)
    job = yaml.safe_load(files["pipelines/forecast/train-forecaster.train.trainjob.yaml"])
    node_env = job["spec"]["trainer"]["env"]  # every node of the TrainJob runs the trainer
    assert {"name": "MLFLOW_EXPERIMENT_NAME", "value": "forecast/train-forecaster"} in node_env
    sweep = yaml.safe_load(files["pipelines/forecast/tune-forecaster.experiment.yaml"])
    (trial,) = sweep["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "MLFLOW_TRACKING_URI", "value": "https://mlflow.prod.acme.example"} in trial[
        "env"
    ]
    _, local = compiled("local")
    assert "MLFLOW_TRACKING_URI" not in local["pipelines/fraud/train-fraud-model.yaml"]
