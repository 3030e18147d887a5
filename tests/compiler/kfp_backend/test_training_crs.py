"""The cluster side of training at scale, compiled for prod from the example organisation:
each distributed step's TrainJob and each sweep's Katib Experiment validate against the
vendored upstream schemas (and parse as the pinned API models), and the pipeline task
launches them with the team's identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from compiler.kfp_backend import compile_all
from tests.compiler.kfp_backend.crd_schemas import crd_errors

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "kfp"


@pytest.fixture(scope="module")
def prod_files(example_ir) -> dict[str, str]:
    result = example_ir("prod")
    files, diagnostics = compile_all(result.ir, result.sources.locate)
    assert diagnostics == [], [d.render() for d in diagnostics]
    return files


def test_the_distributed_step_compiles_to_a_valid_trainjob(prod_files) -> None:
    from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob

    job = yaml.safe_load(prod_files["pipelines/forecast/train-forecaster.train.trainjob.yaml"])
    assert crd_errors(job) == []
    assert TrainerV1alpha1TrainJob.from_dict(job).spec.trainer.num_nodes == 2
    trainer = job["spec"]["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 1)
    assert trainer["resourcesPerNode"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert any("torchrun -m kfp.dsl.executor_main" in part for part in trainer["command"])
    assert "def train_forecaster(" in trainer["command"][-1]
    assert job["metadata"]["namespace"] == "team-forecast"
    assert job["spec"]["runtimeRef"]["name"] == "torch-distributed"
    (patch,) = job["spec"]["runtimePatches"]
    (replicated,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = replicated["template"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "forecast-workload"
    assert pod["nodeSelector"] == {"mlplat.io/node-pool": "cpu-general"}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_sweep_compiles_to_a_valid_katib_experiment(prod_files) -> None:
    from kubeflow_katib_api.models import V1beta1Experiment

    experiment = yaml.safe_load(prod_files["pipelines/forecast/tune-forecaster.experiment.yaml"])
    assert crd_errors(experiment) == []
    assert V1beta1Experiment.from_dict(experiment).spec.max_trial_count == 8
    spec = experiment["spec"]
    assert spec["objective"] == {"type": "minimize", "objectiveMetricName": "val_mse"}
    assert spec["algorithm"]["algorithmName"] == "tpe"
    assert (spec["parallelTrialCount"], spec["maxTrialCount"]) == (2, 8)
    assert spec["earlyStopping"]["algorithmName"] == "medianstop"
    assert spec["parameters"] == [
        {
            "name": "hidden",
            "parameterType": "categorical",
            "feasibleSpace": {"list": ["8", "16", "32", "64"]},
        },
        {
            "name": "learning_rate",
            "parameterType": "double",
            "feasibleSpace": {"min": "0.0003", "max": "0.05", "distribution": "logUniform"},
        },
    ]
    template = spec["trialTemplate"]
    assert {p["name"] for p in template["trialParameters"]} == {"hidden", "learning_rate"}
    job = template["trialSpec"]
    assert job["kind"] == "Job"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["name"] == template["primaryContainerName"]
    assert "val_mse=" in container["command"][2]


def test_the_tasks_launch_their_jobs_from_a_small_pod(prod_files) -> None:
    pipeline, platform = yaml.safe_load_all(prod_files["pipelines/forecast/train-forecaster.yaml"])
    executor = pipeline["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert "created {resource['kind']}" in executor["command"][-1]
    resource = json.loads(executor["args"][executor["args"].index("--resource") + 1])
    assert resource == yaml.safe_load(
        prod_files["pipelines/forecast/train-forecaster.train.trainjob.yaml"]
    )
    assert executor["resources"]["resourceCpuLimit"] == "500m"
    assert "accelerator" not in executor["resources"]
    assert platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"][
        "nodeSelector"
    ] == {"labels": {"mlplat.io/node-pool": "cpu-general"}}
    sweep, _ = yaml.safe_load_all(prod_files["pipelines/forecast/tune-forecaster.yaml"])
    args = sweep["deploymentSpec"]["executors"]["exec-train"]["container"]["args"]
    assert json.loads(args[args.index("--searched") + 1]) == {
        "hidden": ["hidden", False],
        "learning_rate": ["learning_rate", False],
    }


def test_the_launcher_templates_the_searched_inputs() -> None:
    from compiler.kfp_backend.launch_job import templated

    given = json.dumps({"inputs": {"parameterValues": {"learning_rate": 0.1, "epochs": 2}}})
    text = templated(given, {"learning_rate": ["lr", False]})
    assert '"learning_rate": ${trialParameters.lr}' in text
    assert json.loads(text.replace("${trialParameters.lr}", "0.5"))["inputs"] == {
        "parameterValues": {"learning_rate": 0.5, "epochs": 2}
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "trainer", "numProcsPerNode"), 2),  # a misspelt field
        (("spec", "trainer", "numNodes"), "two"),  # a wrong type
        (("spec", "runtimeRef", "name"), ""),  # below minLength
    ],
)
def test_the_schema_check_rejects_a_broken_trainjob(prod_files, path, value) -> None:
    job = yaml.safe_load(prod_files["pipelines/forecast/train-forecaster.train.trainjob.yaml"])
    node = job
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert crd_errors(job) != []


def test_the_schema_check_rejects_a_broken_experiment(prod_files) -> None:
    experiment = yaml.safe_load(prod_files["pipelines/forecast/tune-forecaster.experiment.yaml"])
    experiment["spec"]["maxTrials"] = 8
    experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["backofLimit"] = 1
    errors = crd_errors(experiment)
    assert any("maxTrials" in e for e in errors) and any("backofLimit" in e for e in errors)


def test_golden_training_resources_validate() -> None:
    found = sorted(GOLDEN.glob("*/expected.*.yaml"))
    found = [p for p in found if p.name.endswith((".trainjob.yaml", ".experiment.yaml"))]
    assert found, "a golden case compiles a TrainJob and an Experiment"
    for path in found:
        assert crd_errors(yaml.safe_load(path.read_text())) == [], path


@pytest.mark.parametrize(
    "output",
    [
        {"parameterValues": {"val_mse": 0.25}},
        {"artifacts": {"metrics": {"artifacts": [{"metadata": {"val_mse": 0.25}}]}}},
    ],
)
def test_a_trial_prints_its_objective_for_katib(tmp_path, output) -> None:
    import subprocess
    import sys

    from compiler.kfp_backend.katib import metric_epilogue

    out = tmp_path / "executor_output.json"
    out.write_text(json.dumps(output))
    done = subprocess.run(
        [sys.executable, "-c", metric_epilogue("val_mse", str(out))],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "val_mse=0.25\n"
