"""Build a kfp pipeline (a `@dsl.pipeline` GraphComponent) from one IR pipeline."""

from __future__ import annotations

import inspect
from typing import Any

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from compiler.ir import Pipeline, PlatformIR, Step
from compiler.kfp_backend import spec_types
from compiler.kfp_backend.container_steps import container_component
from compiler.kfp_backend.distributed import distributed_components, task_step
from compiler.kfp_backend.problems import (
    REPORT_HINT,
    PipelineError,
    Problem,
    step_path,
)
from compiler.kfp_backend.python_steps import python_component
from compiler.kfp_backend.steps import StepComponent
from compiler.kfp_backend.task_config import configure_task

PIPELINE_ROOT_DIR = "pipeline-root"


def kfp_pipeline_name(pipeline: Pipeline) -> str:
    """The pipeline's name in Kubeflow: team-prefixed, so names never clash across teams."""
    return f"{pipeline.team}-{pipeline.name}"


def pipeline_root(ir: PlatformIR, pipeline: Pipeline) -> str | None:
    """Where runs write artifacts: the team's prefix of the artifacts bucket (cloud targets).

    Runs use the team's service account, whose role may write only under the team's
    prefixes; the local target leaves the root to the local runner.
    """
    if ir.target != "aws":
        return None
    team = ir.teams[pipeline.team]
    for access in sorted(team.bucket_access, key=lambda a: (a.bucket, a.prefix)):
        bucket = ir.buckets.get(access.bucket)
        if bucket is not None and bucket.purpose == "artifacts" and access.access == "write":
            prefix = (
                access.prefix
                if not access.prefix or access.prefix.endswith("/")
                else f"{access.prefix}/"
            )
            return f"s3://{bucket.physical_name}/{prefix}{PIPELINE_ROOT_DIR}"
    return None


def _step_component(pipeline: Pipeline, step: Step) -> tuple[StepComponent | None, list[Problem]]:
    try:
        if step.kind == "python":
            return python_component(pipeline, step)
        return container_component(step), []
    except Exception as exc:  # kfp refused something the checks did not foresee
        return None, [
            Problem(
                "E212",
                f"Kubeflow Pipelines cannot make a component of step '{step.name}': "
                f"{type(exc).__name__}: {exc}",
                step_path(pipeline, step.name),
                REPORT_HINT,
            )
        ]


def resolve_steps(pipeline: Pipeline) -> tuple[dict[str, StepComponent], list[Problem]]:
    """A component per step, or every problem found (names, team code and types)."""
    problems: list[Problem] = []
    components: dict[str, StepComponent] = {}
    for name in pipeline.order:
        built, found = _step_component(pipeline, pipeline.steps[name])
        problems.extend(found)
        if built is not None:
            components[name] = built
    return components, problems


def _signature(pipeline: Pipeline) -> inspect.Signature:
    """Pipeline parameters as a Python signature (required ones first, as Python demands)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [
        inspect.Parameter(
            name,
            kind,
            annotation=spec_types.PYTHON_TYPES[spec.type],
            default=inspect.Parameter.empty if spec.default is None else spec.default,
        )
        for name, spec in pipeline.parameters.items()
    ]
    params.sort(key=lambda p: p.default is not inspect.Parameter.empty)
    return inspect.Signature(params)


def _argument(
    step: Step,
    name: str,
    params: dict[str, Any],
    tasks: dict[str, Any],
    comps: dict[str, StepComponent],
) -> Any:
    fed = step.inputs[name]
    if fed.source == "param":
        return params[fed.param or ""]
    if fed.source == "step":
        producer = comps[fed.step or ""]
        return tasks[fed.step or ""].outputs[producer.output_keys[fed.output or ""]]
    expected_spec = (comps[step.name].component.component_spec.inputs or {})[name]
    return spec_types.constant_for(fed.value, fed.type, spec_types.from_kfp(expected_spec.type))


def assemble(
    ir: PlatformIR, pipeline: Pipeline, components: dict[str, StepComponent]
) -> GraphComponent:
    """Wire resolved components into a pipeline: inputs, `after` ordering, task settings."""
    components = distributed_components(ir, pipeline, components)
    signature = _signature(pipeline)
    names = list(signature.parameters)

    def body(*args: Any) -> None:
        params = dict(zip(names, args, strict=True))
        tasks: dict[str, dsl.PipelineTask] = {}
        tracking = ir.platform.kfp.tracking_uri if ir.target != "local" else None
        for step_name in pipeline.order:
            step = pipeline.steps[step_name]
            arguments = {
                name: _argument(step, name, params, tasks, components) for name in step.inputs
            }
            task = components[step_name].component(**arguments)
            runs = task_step(ir, pipeline, step)
            configure_task(task, pipeline, runs, ir.node_pools.get(runs.node_pool), tracking)
            for upstream in step.after:
                task.after(tasks[upstream])
            tasks[step_name] = task

    body.__signature__ = signature  # type: ignore[attr-defined]
    body.__name__ = pipeline.name.replace("-", "_")
    body.__doc__ = pipeline.description or None
    return dsl.pipeline(
        body,
        name=kfp_pipeline_name(pipeline),
        description=pipeline.description or None,
        display_name=f"{pipeline.team}/{pipeline.name}",
        pipeline_root=pipeline_root(ir, pipeline),
    )


def build_pipeline(ir: PlatformIR, pipeline: Pipeline) -> GraphComponent:
    """The kfp pipeline of one IR pipeline; callable under `kfp.local` with its parameters.

    Raises `PipelineError` (with every problem) when team code or types do not fit.
    """
    components, problems = resolve_steps(pipeline)
    if problems:
        raise PipelineError(pipeline, problems)
    return assemble(ir, pipeline, components)
