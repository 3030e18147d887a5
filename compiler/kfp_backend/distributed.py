"""Distributed steps and sweeps in the compiled pipeline.

Local target: the step is its python component with kfp's executor started under
torchrun (`compiler/deploy/local/ddp.py`): one node, `workers x procs_per_worker`
processes, so the world size is the one the cluster job has (a local sweep is run by the
local deploy, compiler/deploy/local/tuning.py). Cloud targets: the task of a distributed
step launches its Kubeflow Trainer TrainJob (`trainjob.py`), the task of a sweep's
objective step its Katib Experiment (`katib.py`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kfp.dsl.python_component import PythonComponent

from compiler.ir import Pipeline, PlatformIR, Step
from compiler.kfp_backend.katib import experiment_manifest, launcher_searched
from compiler.kfp_backend.python_steps import python_component
from compiler.kfp_backend.steps import StepComponent
from compiler.kfp_backend.trainjob import launcher_component, trainjob_manifest, trainjob_path

KFP_EXECUTOR_MODULE = "kfp.dsl.executor_main"
KFP_EXECUTOR = f"python3 -m {KFP_EXECUTOR_MODULE}"


def local_processes(step: Step) -> int:
    """Processes of the local run: the whole job's world size on one node."""
    assert step.distributed is not None
    return step.distributed.world_size


def torchrun_component(step: Step, built: StepComponent) -> StepComponent:
    """The step's python component, its executor started by torchrun on this machine."""
    assert step.distributed is not None
    component = built.component
    assert isinstance(component, PythonComponent)
    spec = component.component_spec
    container = spec.implementation.container
    assert container is not None
    launcher = (
        f"python3 -m compiler.deploy.local.ddp --nproc-per-node {local_processes(step)} "
        f"--backend {step.distributed.backend} --executor {KFP_EXECUTOR_MODULE} --"
    )
    command = [part.replace(KFP_EXECUTOR, launcher) for part in container.command or []]
    if command == list(container.command or []):
        raise ValueError("kfp's executor command was not found in the component")
    implementation = dataclasses.replace(
        spec.implementation, container=dataclasses.replace(container, command=command)
    )
    changed = dataclasses.replace(spec, implementation=implementation)
    return StepComponent(
        PythonComponent(changed, python_func=component.python_func), built.output_keys
    )


def distributed_components(
    ir: PlatformIR, pipeline: Pipeline, components: dict[str, StepComponent]
) -> dict[str, StepComponent]:
    """Components with each distributed step's made for the target it runs on."""
    objective = pipeline.tuning.objective.step if pipeline.tuning else None
    if objective is None and not any(pipeline.steps[name].distributed for name in components):
        return components
    changed = dict(components)
    for name, built in components.items():
        step = pipeline.steps[name]
        if step.kind != "python" or (step.distributed is None and name != objective):
            continue
        if ir.target == "local":
            if step.distributed is not None:
                changed[name] = torchrun_component(step, built)
            continue
        if name == objective:
            changed[name] = launcher_component(
                step, built, experiment_manifest(ir, pipeline), launcher_searched(pipeline, step)
            )
        else:
            component = built.component
            assert isinstance(component, PythonComponent)
            changed[name] = launcher_component(
                step, built, trainjob_manifest(ir, pipeline, step, component)
            )
    return changed


def training_manifests(ir: PlatformIR, pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """The TrainJob of every distributed python step (cloud targets), by its build path."""
    if ir.target == "local":
        return {}
    found: dict[str, dict[str, Any]] = {}
    for name in pipeline.order:
        step = pipeline.steps[name]
        if step.distributed is None or step.kind != "python":
            continue
        built, problems = python_component(pipeline, step)
        if built is None or problems:
            continue
        component = built.component
        assert isinstance(component, PythonComponent)
        found[trainjob_path(pipeline, step)] = trainjob_manifest(ir, pipeline, step, component)
    return found


def task_step(ir: PlatformIR, pipeline: Pipeline, step: Step) -> Step:
    """The step as its task runs: in the cluster a distributed step's or a sweep's objective
    step's task is the small launcher of its job, on the default pool without GPUs (the job
    has the resources)."""
    launched = step.distributed is not None or (
        pipeline.tuning is not None and pipeline.tuning.objective.step == step.name
    )
    if not launched or ir.target == "local":
        return step
    resources = step.resources.model_copy(
        update={
            "cpu": 100,
            "memory": 256 * 1024**2,
            "cpu_limit": 500,
            "memory_limit": 512 * 1024**2,
            "gpu": 0,
            "gpu_model": None,
        }
    )
    return step.model_copy(
        update={"resources": resources, "node_pool": ir.platform.default_node_pool}
    )
