"""Training at scale: a distributed training step and a hyperparameter sweep of a pipeline.

A step with `distributed:` runs as one job of several workers (a Kubeflow Trainer TrainJob
in the cluster, `torchrun` on this machine); the step's `resources` and `node_pool` are
those of each worker. A pipeline with `tuning:` is run once per trial with the trial's
values of its parameters (a Katib Experiment in the cluster, Optuna on this machine).
Checks that need the rest of the spec (pools, quotas, parameters, outputs) are made when
linking (`compiler/training_link.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from schemas.types import Identifier, Name, SpecModel


class DistributedSpec(SpecModel):
    """Run the step as a data-parallel job of `workers` nodes x `procs_per_worker` processes."""

    framework: Literal["pytorch"] = "pytorch"
    """Distributed framework; the step's function is started by torchrun on every worker."""
    workers: int = Field(default=1, ge=1, le=256)
    """Number of worker nodes (pods) of the job."""
    procs_per_worker: int = Field(default=1, ge=1, le=64)
    """Processes per worker, usually its GPU count (one process per GPU)."""
    backend: Literal["gloo", "nccl"] | None = None
    """Collective backend: nccl on GPU workers, gloo on CPU workers when unset."""
    min_workers: int | None = Field(default=None, ge=1, le=256)
    """Elastic jobs: the fewest workers the job may run with."""
    max_workers: int | None = Field(default=None, ge=1, le=256)
    """Elastic jobs: the most workers the job may scale to."""


class FloatRange(SpecModel):
    type: Literal["float"]
    min: float
    max: float
    log: bool = False
    """Sample on a log scale (e.g. learning rates)."""


class IntRange(SpecModel):
    type: Literal["int"]
    min: int
    max: int
    log: bool = False


class Categorical(SpecModel):
    type: Literal["categorical"]
    values: list[str | int | float | bool] = Field(min_length=1, max_length=100)


def _space_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        return kind if kind in ("float", "int", "categorical") else None
    return getattr(value, "type", None)


SearchParameter = Annotated[
    Annotated[FloatRange, Tag("float")]
    | Annotated[IntRange, Tag("int")]
    | Annotated[Categorical, Tag("categorical")],
    Discriminator(
        _space_kind,
        custom_error_type="search_parameter",
        custom_error_message="a search parameter is {type: float|int, min, max} or "
        "{type: categorical, values: [...]}",
        custom_error_context={
            "hint": "e.g. learning_rate: {type: float, min: 1e-4, max: 0.1, log: true}"
        },
    ),
]


class Objective(SpecModel):
    """The metric a sweep optimises: a metric of a step's Metrics output, or a float output."""

    step: Name
    metric: Identifier
    """Name of the metric in the step's Metrics output, or of its float output."""
    direction: Literal["minimize", "maximize"]


class EarlyStopping(SpecModel):
    """Stop trials that fall behind the median of the finished ones."""

    algorithm: Literal["median"] = "median"
    min_trials: int = Field(default=3, ge=1, le=1000)
    """Finished trials needed before any trial is stopped."""


class TuningSpec(SpecModel):
    """A hyperparameter sweep over the pipeline's parameters."""

    objective: Objective
    search_space: dict[Identifier, SearchParameter] = Field(min_length=1, max_length=50)
    """Pipeline parameter: its range or choices."""
    algorithm: Literal["random", "tpe", "grid"] = "tpe"
    trials: int = Field(default=8, ge=1, le=1000)
    parallel_trials: int = Field(default=1, ge=1, le=100)
    max_failed_trials: int = Field(default=1, ge=0, le=1000)
    early_stopping: EarlyStopping | None = None
    seed: int = Field(default=0, ge=0)
    """Seed of the sampler, so a sweep can be repeated."""
