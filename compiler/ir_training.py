"""IR of training at scale: a step's resolved distributed job (the sweep is its spec as is)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class DistributedJob(BaseModel):
    """A distributed step, fully defaulted: what the TrainJob and the local torchrun get."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    framework: Literal["pytorch"]
    workers: int
    procs_per_worker: int
    backend: Literal["gloo", "nccl"]
    min_workers: int
    """Equal to `workers` unless the job is elastic."""
    max_workers: int
    """Equal to `workers` unless the job is elastic; quotas and cost count this many."""

    @property
    def elastic(self) -> bool:
        return self.min_workers != self.workers or self.max_workers != self.workers

    @property
    def world_size(self) -> int:
        return self.workers * self.procs_per_worker
