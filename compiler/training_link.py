"""Link-time checks of training at scale: distributed steps (E320-E324) and sweeps (E330-E334).

They need the rest of the spec: the node pool a job lands on and how many of its workers
the pool can hold at `max_size`, the pipeline's parameters a sweep samples, the step and
output its objective reads. Each problem is reported at the YAML line it concerns.
"""

from __future__ import annotations

from typing import Protocol

from compiler.diagnostics import did_you_mean
from compiler.ir import NodePool, ResolvedResources
from compiler.ir_training import DistributedJob
from compiler.yaml_source import Path_
from schemas.pipeline import ParamRef, PipelineSpec, StepSpec
from schemas.training import Categorical, FloatRange, IntRange, TuningSpec
from schemas.types import format_cpu, format_memory


class Reporter(Protocol):
    def err(
        self, code: str, message: str, path: Path_, hint: str | None = None, *, key: bool = False
    ) -> None: ...


def workers_per_node(pool: NodePool, need: ResolvedResources) -> int:
    """How many workers of this size one node of the pool holds (GPUs, CPU and memory)."""
    fits = [
        pool.vcpu_per_node * 1000 // max(need.cpu, 1),
        pool.memory_gib_per_node * 1024**3 // max(need.memory, 1),
    ]
    if need.gpu:
        fits.append(pool.gpus_per_node // need.gpu)
    return max(min(fits), 0)


def link_distributed(
    ln: Reporter,
    what: str,
    base: Path_,
    spec: StepSpec,
    pool: NodePool | None,
    resources: ResolvedResources,
    target: str = "local",
) -> DistributedJob | None:
    """The step's resolved job, or None after reporting why it cannot run as written."""
    dist = spec.distributed
    if dist is None:
        return None
    dpath = (*base, "distributed")
    ok = True
    workers = dist.workers
    low = dist.min_workers if dist.min_workers is not None else workers
    high = dist.max_workers if dist.max_workers is not None else workers
    if low > workers:
        ln.err(
            "E320",
            f"{what} has min_workers {low}, above its workers ({workers})",
            (*dpath, "min_workers"),
            "min_workers <= workers <= max_workers",
        )
        ok = False
    if high < workers:
        ln.err(
            "E320",
            f"{what} has max_workers {high}, below its workers ({workers})",
            (*dpath, "max_workers"),
            "min_workers <= workers <= max_workers",
        )
        ok = False
    if target != "local" and (low != workers or high != workers):
        ln.err(
            "E324",
            f"{what} is elastic ({low}-{high} workers), which Kubeflow Trainer v2.3 cannot run: "
            "a TrainJob has a fixed number of nodes",
            (*dpath, "min_workers" if low != workers else "max_workers"),
            "remove min_workers and max_workers for this environment",
            key=True,
        )
        ok = False
    backend = dist.backend or ("nccl" if resources.gpu else "gloo")
    if backend == "nccl" and not resources.gpu:
        ln.err(
            "E322",
            f"{what} uses the nccl backend but its workers request no GPU",
            (*dpath, "backend"),
            "request GPUs per worker (resources.gpu) on a GPU node pool, or use backend: gloo",
        )
        ok = False
    if resources.gpu and dist.procs_per_worker > resources.gpu:
        ln.err(
            "E323",
            f"{what} starts {dist.procs_per_worker} processes per worker on {resources.gpu} "
            f"GPU{'s' * (resources.gpu != 1)}",
            (*dpath, "procs_per_worker"),
            f"one process per GPU: procs_per_worker: {resources.gpu}",
        )
        ok = False
    if pool is not None:
        per_node = workers_per_node(pool, resources)
        capacity = per_node * pool.max_size
        if per_node and high > capacity:
            size = (
                f"{resources.gpu} GPU{'s' * (resources.gpu != 1)}"
                if resources.gpu
                else f"{format_cpu(resources.cpu)} CPU, {format_memory(resources.memory)}"
            )
            ln.err(
                "E321",
                f"{what} needs {high} workers of {size} but node pool '{pool.name}' holds at "
                f"most {capacity} ({per_node} per node x max_size {pool.max_size})",
                (*dpath, "max_workers" if dist.max_workers is not None else "workers"),
                f"lower the workers, or raise max_size of node pool '{pool.name}'",
            )
            ok = False
    if not ok:
        return None
    return DistributedJob(
        framework=dist.framework,
        workers=workers,
        procs_per_worker=dist.procs_per_worker,
        backend=backend,
        min_workers=low,
        max_workers=high,
    )


def _fits(param_type: str, value: object) -> bool:
    if isinstance(value, bool):
        return param_type == "bool"
    if param_type == "float":
        return isinstance(value, int | float)
    if param_type == "int":
        return isinstance(value, int)
    return param_type == "str" and isinstance(value, str)


def check_tuning(ln: Reporter, pipeline: str, spec: PipelineSpec, base: Path_) -> TuningSpec | None:
    """The sweep if it refers to what the pipeline has; None after reporting what is wrong."""
    tuning = spec.tuning
    if tuning is None:
        return None
    tpath = (*base, "tuning")
    ok = True
    for name, space in tuning.search_space.items():
        spath = (*tpath, "search_space", name)
        param = spec.parameters.get(name)
        if param is None:
            ln.err(
                "E330",
                f"the sweep of pipeline '{pipeline}' samples '{name}', which is not one of its parameters",
                spath,
                did_you_mean(name, spec.parameters) or "declare it under parameters:",
                key=True,
            )
            ok = False
            continue
        if isinstance(space, FloatRange | IntRange):
            if space.type == "float" and param.type != "float":
                ln.err(
                    "E331",
                    f"parameter '{name}' is of type {param.type} but its search range is float",
                    (*spath, "type"),
                    f"use type: {'int' if param.type == 'int' else 'categorical'}",
                )
                ok = False
            elif space.type == "int" and param.type not in ("int", "float"):
                ln.err(
                    "E331",
                    f"parameter '{name}' is of type {param.type} but its search range is int",
                    (*spath, "type"),
                    "use type: categorical",
                )
                ok = False
            elif space.min >= space.max:
                ln.err(
                    "E331",
                    f"search range of '{name}' is empty: min {space.min} is not below max {space.max}",
                    (*spath, "max"),
                    "min < max",
                )
                ok = False
            elif space.log and space.min <= 0:
                ln.err(
                    "E331",
                    f"log-scale search range of '{name}' starts at {space.min}",
                    (*spath, "min"),
                    "a log scale needs min > 0",
                )
                ok = False
        elif isinstance(space, Categorical):
            for index, value in enumerate(space.values):
                if not _fits(param.type, value):
                    ln.err(
                        "E331",
                        f"choice {value!r} of '{name}' is not of its parameter's type {param.type}",
                        (*spath, "values", index),
                    )
                    ok = False
    objective = tuning.objective
    opath = (*tpath, "objective")
    step = spec.steps.get(objective.step)
    if step is None:
        ln.err(
            "E330",
            f"the sweep of pipeline '{pipeline}' reads its objective from step '{objective.step}', "
            "which does not exist",
            (*opath, "step"),
            did_you_mean(objective.step, spec.steps),
        )
        ok = False
    elif not ("Metrics" in step.outputs.values() or step.outputs.get(objective.metric) == "float"):
        ln.err(
            "E332",
            f"step '{objective.step}' has no Metrics output and no float output "
            f"'{objective.metric}' for the sweep's objective",
            (*opath, "metric"),
            "log the metric in an Output[Metrics] of the step, or return it as a float output",
        )
        ok = False
    if step is not None:
        fed = {v.param for v in step.inputs.values() if isinstance(v, ParamRef)}
        for name in tuning.search_space:
            if name in spec.parameters and name not in fed:
                ln.err(
                    "E334",
                    f"parameter '{name}' searched by the sweep does not feed its objective step "
                    f"'{objective.step}', which is what a trial runs",
                    (*tpath, "search_space", name),
                    f"feed it to step '{objective.step}': inputs: {{{name}: {{param: {name}}}}}",
                    key=True,
                )
                ok = False
    if tuning.parallel_trials > tuning.trials:
        ln.err(
            "E333",
            f"the sweep of pipeline '{pipeline}' runs {tuning.parallel_trials} trials in parallel "
            f"but only {tuning.trials} in all",
            (*tpath, "parallel_trials"),
            f"parallel_trials <= trials ({tuning.trials})",
        )
        ok = False
    if tuning.algorithm == "grid":
        for name, space in tuning.search_space.items():
            if isinstance(space, FloatRange):
                ln.err(
                    "E333",
                    f"a grid search cannot enumerate the float range of '{name}'",
                    (*tpath, "search_space", name, "type"),
                    "use algorithm: random or tpe, or list the values as type: categorical",
                )
                ok = False
    return tuning if ok else None
