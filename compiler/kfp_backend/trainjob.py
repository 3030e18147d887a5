"""Distributed steps in the cluster: a Kubeflow Trainer TrainJob (API v2.3, trainer.kubeflow.org/v1alpha1).

The compiled pipeline's task for a distributed step is a small launcher pod (the team's
service account, the platform's default pool, no GPU) that creates the step's TrainJob in
the team's namespace and waits for it to finish (`trainjob_launch.py`). The TrainJob runs
the step's function on `workers` nodes x `procs_per_worker` processes with torchrun, from
the ClusterTrainingRuntime `torch-distributed` that the platform installs with the
operator (platform_iac/training.py): Trainer's torch plugin sets the PET_* variables
torchrun reads. Placement, identity and the restricted security context go in as a
RuntimePatch (v2.2 replaced PodTemplateOverrides with RuntimePatches). The executor input
of the task (its parameter values and artifact URIs) reaches every rank through
MLPLAT_EXECUTOR_INPUT, filled in by the launcher (`launch_job.py`).

The manifest is also written next to the pipeline (`<pipeline>.<step>.trainjob.yaml`),
where the tests validate it against the TrainJob CRD's schema and the security baseline
checks its pod template.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from kfp.dsl.python_component import PythonComponent

from compiler.ir import GPU_MODEL_LABEL, NODE_POOL_LABEL, NodePool, Pipeline, PlatformIR, Step
from compiler.kfp_backend.steps import StepComponent
from compiler.kfp_backend.task_config import (
    GPU_RESOURCE,
    PIPELINE_LABEL,
    PYTHON_STEP_HOME,
    RUN_AS_GROUP,
    RUN_AS_USER,
    TEAM_LABEL,
    tracking_env,
)
from schemas.types import format_cpu, format_memory

TRAINER_VERSION = "2.3.0"
"""Kubeflow Trainer release the TrainJobs are written for (the chart the program installs)."""
TRAINER_GROUP = "trainer.kubeflow.org"
TRAINER_API = f"{TRAINER_GROUP}/v1alpha1"
TORCH_RUNTIME = "torch-distributed"
"""The ClusterTrainingRuntime of the operator's chart for PyTorch (replicated job 'node')."""
RUNTIME_JOB = "node"
RUNTIME_CONTAINER = "node"
PATCH_MANAGER = "mlplat.io/compiler"
STEP_LABEL = "mlplat.io/step"
EXECUTOR_INPUT_ENV = "MLPLAT_EXECUTOR_INPUT"
BACKEND_ENV = "MLPLAT_DIST_BACKEND"
KFP_EXECUTOR = "python3 -m kfp.dsl.executor_main"
TORCHRUN_EXECUTOR = "torchrun -m kfp.dsl.executor_main"
LAUNCHER_PACKAGE = "kubernetes==30.1.0"
"""The launcher's client, pinned to the version in requirements.lock."""


def trainjob_path(pipeline: Pipeline, step: Step) -> str:
    """Where the step's TrainJob manifest lands, relative to `build/<env>/`."""
    return f"pipelines/{pipeline.team}/{pipeline.name}.{step.name}.trainjob.yaml"


def trainjob_name(pipeline: Pipeline, step: Step) -> str:
    """Base name of the step's TrainJobs; the launcher appends a per-run suffix."""
    return f"{pipeline.name}-{step.name}"[:50].rstrip("-")


def _resources(step: Step) -> dict[str, Any]:
    res = step.resources
    requests = {"cpu": format_cpu(res.cpu), "memory": format_memory(res.memory)}
    limits = {"cpu": format_cpu(res.cpu_limit), "memory": format_memory(res.memory_limit)}
    if res.gpu:
        requests[GPU_RESOURCE] = str(res.gpu)
        limits[GPU_RESOURCE] = str(res.gpu)
    return {"requests": requests, "limits": limits}


def _placement(step: Step, pool: NodePool | None) -> dict[str, Any]:
    selector = {NODE_POOL_LABEL: step.node_pool}
    if step.resources.gpu_model:
        selector[GPU_MODEL_LABEL] = step.resources.gpu_model
    tolerations = [
        {
            "key": t.key,
            "operator": "Equal" if t.value else "Exists",
            **({"value": t.value} if t.value else {}),
            "effect": t.effect,
        }
        for t in (pool.taints if pool else ())
    ]
    return {"nodeSelector": selector, **({"tolerations": tolerations} if tolerations else {})}


def pod_security() -> tuple[dict[str, Any], dict[str, Any]]:
    """The restricted pod and container security contexts of every training pod."""
    pod = {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_GROUP,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
    }
    return pod, container


def trainer_command(component: PythonComponent) -> tuple[list[str], list[str]]:
    """The step component's command with kfp's executor started by torchrun, and its args
    with the executor input taken from the environment (Kubernetes expands `$(VAR)`)."""
    container = component.component_spec.implementation.container
    assert container is not None
    command = [part.replace(KFP_EXECUTOR, TORCHRUN_EXECUTOR) for part in container.command or []]
    args = [
        f"$({EXECUTOR_INPUT_ENV})" if arg == "{{$}}" else arg
        for arg in (container.args or [])
        if isinstance(arg, str)
    ]
    return command, args


def trainjob_manifest(
    ir: PlatformIR, pipeline: Pipeline, step: Step, component: PythonComponent
) -> dict[str, Any]:
    """The step's TrainJob (without the per-run name suffix and executor input)."""
    job = step.distributed
    assert job is not None and step.python is not None
    pod, container = pod_security()
    command, args = trainer_command(component)
    labels = {TEAM_LABEL: pipeline.team, PIPELINE_LABEL: pipeline.name, STEP_LABEL: step.name}
    tracking = tracking_env(ir.platform.kfp.tracking_uri, pipeline)
    env = {
        **tracking,
        **step.env,
        "HOME": PYTHON_STEP_HOME,
        BACKEND_ENV: job.backend,
        EXECUTOR_INPUT_ENV: "",
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": pipeline.service_account,
        **_placement(step, ir.node_pools.get(step.node_pool)),
        "securityContext": pod,
        "containers": [{"name": RUNTIME_CONTAINER, "securityContext": container}],
    }
    return {
        "apiVersion": TRAINER_API,
        "kind": "TrainJob",
        "metadata": {
            "name": trainjob_name(pipeline, step),
            "namespace": pipeline.namespace,
            "labels": labels,
        },
        "spec": {
            "runtimeRef": {
                "apiGroup": TRAINER_GROUP,
                "kind": "ClusterTrainingRuntime",
                "name": TORCH_RUNTIME,
            },
            "activeDeadlineSeconds": step.timeout_seconds,
            "trainer": {
                "image": step.python.base_image,
                "command": command,
                "args": args,
                "numNodes": job.workers,
                "numProcPerNode": job.procs_per_worker,
                "resourcesPerNode": _resources(step),
                "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
            },
            "runtimePatches": [
                {
                    "manager": PATCH_MANAGER,
                    "trainingRuntimeSpec": {
                        "template": {
                            "spec": {
                                "replicatedJobs": [
                                    {
                                        "name": RUNTIME_JOB,
                                        "template": {
                                            "spec": {
                                                "template": {
                                                    "metadata": {"labels": labels},
                                                    "spec": pod_spec,
                                                }
                                            }
                                        },
                                    }
                                ]
                            }
                        }
                    },
                }
            ],
        },
    }


def launcher_component(
    step: Step,
    built: StepComponent,
    manifest: dict[str, Any],
    searched: dict[str, tuple[str, bool]] | None = None,
) -> StepComponent:
    """The step's task in the cluster: its interface, run by the launcher of its job."""
    component = built.component
    assert isinstance(component, PythonComponent)
    spec = component.component_spec
    container = spec.implementation.container
    assert container is not None
    source = (Path(__file__).parent / "launch_job.py").read_text(encoding="utf-8")
    install = (
        "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet "
        f'--no-warn-script-location \'{LAUNCHER_PACKAGE}\' && exec python3 -c "$0" "$@"'
    )
    changed = dataclasses.replace(
        container,
        command=["sh", "-c", install, source],
        args=[
            "--resource",
            json.dumps(manifest, sort_keys=True, separators=(",", ":")),
            "--executor-input",
            "{{$}}",
            *(["--searched", json.dumps(searched, sort_keys=True)] if searched else []),
        ],
    )
    implementation = dataclasses.replace(spec.implementation, container=changed)
    return StepComponent(
        PythonComponent(
            dataclasses.replace(spec, implementation=implementation),
            python_func=component.python_func,
        ),
        built.output_keys,
    )
