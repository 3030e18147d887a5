"""Sweeps in the cluster: a Katib Experiment (kubeflow.org/v1beta1, Katib v0.19).

A trial runs the sweep's objective step with the trial's parameter values: a batch Job
(or, for a distributed step, its TrainJob) with the step's command, identity, placement,
resources and the restricted security context. The step's executor input is handed to
the trial in MLPLAT_EXECUTOR_INPUT with every searched input written as
`${trialParameters.<name>}`, which Katib replaces; after kfp's executor has run, the trial
prints `<metric>=<value>` from the executor output so Katib's StdOut collector reads the
objective. Early stopping is Katib's median stop.

The manifest is written next to the pipeline (`<pipeline>.experiment.yaml`); the tests
validate it against Katib's OpenAPI schema and the baseline checks its trial's pods.
"""

from __future__ import annotations

import shlex
from typing import Any

from kfp.dsl.python_component import PythonComponent

from compiler.ir import Pipeline, PlatformIR, Step
from compiler.kfp_backend.python_steps import python_component
from compiler.kfp_backend.task_config import (
    PIPELINE_LABEL,
    PYTHON_STEP_HOME,
    TEAM_LABEL,
    tracking_env,
)
from compiler.kfp_backend.trainjob import (
    EXECUTOR_INPUT_ENV,
    RUNTIME_CONTAINER,
    _placement,
    _resources,
    pod_security,
    trainer_command,
    trainjob_manifest,
)
from schemas.training import Categorical, FloatRange, IntRange, TuningSpec

KATIB_VERSION = "v0.19.0"
KATIB_API = "kubeflow.org/v1beta1"
TRIAL_CONTAINER = "trial"
OUTPUT_FILE = "/tmp/outputs/executor_output.json"
"""Where the trial's executor writes its outputs (the launcher sets it in the input)."""
ALGORITHMS = {"random": "random", "tpe": "tpe", "grid": "grid"}


def experiment_path(pipeline: Pipeline) -> str:
    return f"pipelines/{pipeline.team}/{pipeline.name}.experiment.yaml"


def launcher_searched(pipeline: Pipeline, step: Step) -> dict[str, tuple[str, bool]]:
    """What the launcher templates: input → (trial parameter, whether its value is text)."""
    return {
        name: (param, pipeline.parameters[param].type == "str")
        for name, param in searched_inputs(pipeline, step).items()
    }


def searched_inputs(pipeline: Pipeline, step: Step) -> dict[str, str]:
    """Input of the objective step → the searched pipeline parameter that feeds it."""
    tuning = pipeline.tuning
    assert tuning is not None
    return {
        name: fed.param
        for name, fed in step.inputs.items()
        if fed.source == "param" and fed.param in tuning.search_space
    }


def _parameter(name: str, space: Any) -> dict[str, Any]:
    if isinstance(space, Categorical):
        return {
            "name": name,
            "parameterType": "categorical",
            "feasibleSpace": {"list": [str(v) for v in space.values]},
        }
    assert isinstance(space, FloatRange | IntRange)
    feasible: dict[str, Any] = {"min": str(space.min), "max": str(space.max)}
    if space.log:
        feasible["distribution"] = "logUniform"
    return {
        "name": name,
        "parameterType": "double" if space.type == "float" else "int",
        "feasibleSpace": feasible,
    }


def metric_epilogue(metric: str, output_file: str = OUTPUT_FILE) -> str:
    """Python that prints `metric=value` from kfp's executor output (for the StdOut collector)."""
    lines = [
        f"import json;d=json.load(open({output_file!r}));v=d.get('parameterValues',{{}}).get({metric!r})",
        "for a in ([] if v is not None else d.get('artifacts',{}).values()):",
        "    for x in a.get('artifacts',[]):",
        f"        v=x.get('metadata',{{}}).get({metric!r},v)",
        f"print('{metric}=' + str(v))",
    ]
    return "\n".join(lines)


def _trial_script(metric: str) -> str:
    """Run the step's command (the script's arguments), then print its objective metric."""
    return f'set -e\n"$@"\npython3 -c {shlex.quote(metric_epilogue(metric))}\n'


def _trial_job(
    ir: PlatformIR, pipeline: Pipeline, step: Step, component: PythonComponent, metric: str
) -> dict[str, Any]:
    assert step.python is not None
    pod, container = pod_security()
    command, args = trainer_command(component)
    script = _trial_script(metric)
    labels = {TEAM_LABEL: pipeline.team, PIPELINE_LABEL: pipeline.name, "mlplat.io/step": step.name}
    tracking = tracking_env(ir.platform.kfp.tracking_uri, pipeline)
    env = {**tracking, **step.env, "HOME": PYTHON_STEP_HOME, EXECUTOR_INPUT_ENV: ""}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "backoffLimit": step.retry.attempts,
            "activeDeadlineSeconds": step.timeout_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": pipeline.service_account,
                    "restartPolicy": "Never",
                    **_placement(step, ir.node_pools.get(step.node_pool)),
                    "securityContext": pod,
                    "containers": [
                        {
                            "name": TRIAL_CONTAINER,
                            "image": step.python.base_image,
                            "command": ["sh", "-c", script, "trial", *command],
                            "args": args,
                            "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
                            "resources": _resources(step),
                            "securityContext": container,
                        }
                    ],
                },
            },
        },
    }


def experiment_manifest(ir: PlatformIR, pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline's Katib Experiment; the launcher fills in the trial's executor input."""
    tuning: TuningSpec | None = pipeline.tuning
    assert tuning is not None
    step = pipeline.steps[tuning.objective.step]
    built, _ = python_component(pipeline, step)
    assert built is not None and isinstance(built.component, PythonComponent)
    component = built.component
    searched = searched_inputs(pipeline, step)
    if step.distributed is not None:
        trial = trainjob_manifest(ir, pipeline, step, component)
        trial["metadata"] = {"labels": trial["metadata"]["labels"]}
        trainer = trial["spec"]["trainer"]
        trainer["command"] = [
            "sh",
            "-c",
            _trial_script(tuning.objective.metric),
            "trial",
            *trainer["command"],
        ]
        primary, success, failure = (
            RUNTIME_CONTAINER,
            'status.conditions.#(type=="Complete")#|#(status=="True")#',
            'status.conditions.#(type=="Failed")#|#(status=="True")#',
        )
    else:
        trial = _trial_job(ir, pipeline, step, component, tuning.objective.metric)
        primary, success, failure = (
            TRIAL_CONTAINER,
            'status.conditions.#(type=="Complete")#|#(status=="True")#',
            'status.conditions.#(type=="Failed")#|#(status=="True")#',
        )
    trial_parameters = [
        {"name": param, "reference": param, "description": f"input '{name}' of step '{step.name}'"}
        for name, param in sorted(searched.items())
    ]
    spec: dict[str, Any] = {
        "objective": {
            "type": tuning.objective.direction,
            "objectiveMetricName": tuning.objective.metric,
        },
        "algorithm": {
            "algorithmName": ALGORITHMS[tuning.algorithm],
            "algorithmSettings": (
                [{"name": "random_state", "value": str(tuning.seed)}]
                if tuning.algorithm != "grid"
                else []
            ),
        },
        "parallelTrialCount": tuning.parallel_trials,
        "maxTrialCount": tuning.trials,
        "maxFailedTrialCount": tuning.max_failed_trials,
        "parameters": [_parameter(n, s) for n, s in sorted(tuning.search_space.items())],
        "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
        "trialTemplate": {
            "primaryContainerName": primary,
            "successCondition": success,
            "failureCondition": failure,
            "trialParameters": trial_parameters,
            "trialSpec": trial,
        },
    }
    if tuning.early_stopping is not None:
        spec["earlyStopping"] = {
            "algorithmName": "medianstop",
            "algorithmSettings": [
                {"name": "min_trials_required", "value": str(tuning.early_stopping.min_trials)}
            ],
        }
    return {
        "apiVersion": KATIB_API,
        "kind": "Experiment",
        "metadata": {
            "name": pipeline.name,
            "namespace": pipeline.namespace,
            "labels": {TEAM_LABEL: pipeline.team, PIPELINE_LABEL: pipeline.name},
        },
        "spec": spec,
    }
