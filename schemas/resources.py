"""Compute resources requested by pipeline steps and serving replicas."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.catalog import GpuModel
from schemas.types import CPU, Memory, SpecModel


class Resources(SpecModel):
    """Requests (and optional limits) for one container; unset values take platform defaults."""

    cpu: CPU | None = None
    """CPU request, e.g. '500m' or '4'."""
    memory: Memory | None = None
    """Memory request, e.g. '2Gi'."""
    cpu_limit: CPU | None = None
    """CPU limit; defaults to the request."""
    memory_limit: Memory | None = None
    """Memory limit; defaults to the request."""
    gpu: int = Field(default=0, ge=0, le=16)
    """Number of GPUs; a step with GPUs must run on a GPU node pool."""
    gpu_type: GpuModel | None = None
    """GPU model required, e.g. 'nvidia-a10g'; any GPU of the node pool when unset."""

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Self:
        if self.cpu and self.cpu_limit and self.cpu_limit < self.cpu:
            raise PydanticCustomError(
                "limit_below_request",
                "cpu_limit is below the cpu request",
                {
                    "field": "cpu_limit",
                    "hint": "set cpu_limit >= cpu, or leave cpu_limit out to use the request",
                },
            )
        if self.memory and self.memory_limit and self.memory_limit < self.memory:
            raise PydanticCustomError(
                "limit_below_request",
                "memory_limit is below the memory request",
                {
                    "field": "memory_limit",
                    "hint": "set memory_limit >= memory, or leave it out to use the request",
                },
            )
        if self.gpu_type and not self.gpu:
            raise PydanticCustomError(
                "gpu_type_without_gpu",
                "gpu_type is set but gpu is 0",
                {"field": "gpu_type", "hint": "set gpu: 1 (or more), or remove gpu_type"},
            )
        return self
