"""A team: owners, quotas, data access and the pipelines, models and endpoints it runs."""

from __future__ import annotations

from typing import Literal

from pydantic import EmailStr, Field

from schemas.features import (
    EntitySpec,
    FeatureServiceSpec,
    FeatureViewSpec,
    OnDemandViewSpec,
    SourceSpec,
)
from schemas.pipeline import PipelineSpec
from schemas.serving import EndpointSpec, ModelSpec
from schemas.types import CPU, Memory, Name, SpecModel


class Quotas(SpecModel):
    """Caps on what the team's namespace may request at once."""

    gpus: int = Field(default=0, ge=0, le=1024)
    cpu: CPU
    memory: Memory


class BucketAccess(SpecModel):
    """A grant on (a prefix of) a platform bucket."""

    bucket: Name
    prefix: str = Field(default="", pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*/)*$")
    """Key prefix such as 'fraud/' ('' for the whole bucket); no wildcards."""
    access: Literal["read", "write"] = "read"
    """'write' includes read."""


class TeamSpec(SpecModel):
    """One file `configs/teams/<team>.yaml` (or folder `configs/teams/<team>/`)."""

    description: str = ""
    owners: list[EmailStr] = Field(min_length=1, max_length=50)
    """People who review and approve the team's changes."""
    cost_center: str = Field(pattern=r"^[A-Z]{2,4}-[0-9]{3,6}$")
    """Finance cost centre, e.g. 'CC-1042'."""
    quotas: Quotas
    bucket_access: list[BucketAccess] = Field(default=[], max_length=200)
    pipelines: dict[Name, PipelineSpec] = Field(default={}, max_length=200)
    models: dict[Name, ModelSpec] = Field(default={}, max_length=200)
    endpoints: dict[Name, EndpointSpec] = Field(default={}, max_length=100)
    entities: dict[Name, EntitySpec] = Field(default={}, max_length=100)
    sources: dict[Name, SourceSpec] = Field(default={}, max_length=200)
    feature_views: dict[Name, FeatureViewSpec] = Field(default={}, max_length=200)
    feature_services: dict[Name, FeatureServiceSpec] = Field(default={}, max_length=100)
    on_demand: dict[Name, OnDemandViewSpec] = Field(default={}, max_length=100)
