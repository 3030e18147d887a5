"""Distributed steps in the compiled pipeline.

Local target: the step is its python component with kfp's executor started under
torchrun (`compiler/deploy/local/ddp.py`): one node, `workers x procs_per_worker`
processes, so the world size is the one the cluster job has. Cloud targets: see
`compiler/kfp_backend/trainjob.py` (a Kubeflow Trainer TrainJob).
"""

from __future__ import annotations

import dataclasses

from kfp.dsl.python_component import PythonComponent

from compiler.ir import Pipeline, PlatformIR, Step
from compiler.kfp_backend.steps import StepComponent

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
    if not any(pipeline.steps[name].distributed for name in components):
        return components
    changed = dict(components)
    for name, built in components.items():
        step = pipeline.steps[name]
        if step.distributed is None or step.kind != "python":
            continue
        if ir.target == "local":
            changed[name] = torchrun_component(step, built)
    return changed
