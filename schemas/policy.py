"""Organisation policies: rules every team's spec must follow, with time-boxed exceptions.

They live in `configs/policies.yaml`, are reviewed by the platform owners, and are checked by
`mlplat validate`, `check`, `plan` and `deploy`.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import EmailStr, Field

from schemas.types import Name, SpecModel

PolicyName = Literal[
    "allowed-regions",
    "allowed-instance-types",
    "max-gpus-per-team",
    "max-gpus-per-endpoint",
    "image-registries",
    "image-digests",
    "pii-access",
    "data-residency",
    "model-card",
    "model-metrics",
    "endpoint-latency-objective",
    "endpoint-replicas",
]


class DataPolicy(SpecModel):
    """Who may touch classified data, and where it may go."""

    pii_approved_teams: list[Name] = []
    """Only these teams may be granted buckets classified 'pii'."""
    residency_classifications: list[Literal["internal", "confidential", "pii"]] = [
        "confidential",
        "pii",
    ]
    """Buckets of these classifications never leave the platform region (no cross-region replication)."""


class ProductionPolicy(SpecModel):
    """Extra rules for the environments that serve real users."""

    environments: list[Name] = ["prod"]
    require_model_card: bool = True
    """Served models need intended use, limitations, fairness notes, an approver and metrics."""
    require_metrics_above_thresholds: bool = True
    """Measured evaluation results on the model card must meet the thresholds it declares."""
    require_latency_objective: bool = True
    min_endpoint_replicas: int = Field(default=2, ge=1)
    require_image_digests: bool = True
    """Container images must be pinned by digest (@sha256:...)."""


class PolicyException(SpecModel):
    """A time-boxed waiver of one policy for one team."""

    policy: PolicyName
    team: Name
    reason: str = Field(min_length=10)
    approver: EmailStr
    expires: date
    """After this date the exception no longer applies and the check fails again."""


class PolicySpec(SpecModel):
    """The organisation's rules. Every list left empty means 'no restriction'."""

    allowed_regions: list[str] = []
    allowed_instance_types: list[str] = []
    """Instance types or glob patterns such as 'g5.*'."""
    max_gpus_per_team: int | None = Field(default=None, ge=0)
    max_gpus_per_endpoint: int | None = Field(default=None, ge=0)
    """GPUs across all replicas of one endpoint at max_replicas."""
    image_registries: list[str] = []
    """Allowed image prefixes, e.g. 'ghcr.io/acme/'; python steps' base images count too."""
    data: DataPolicy = DataPolicy()
    production: ProductionPolicy = ProductionPolicy()
    exceptions: list[PolicyException] = []
