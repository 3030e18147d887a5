"""Models (registry entries with model cards) and the endpoints that serve them."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import EmailStr, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.monitoring import MonitoringSpec
from schemas.resources import Resources
from schemas.types import Identifier, Name, SpecModel

Framework = Literal[
    "sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "onnx", "huggingface", "custom"
]
Runtime = Literal[
    "sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "onnx", "triton", "huggingface",
    "custom",
]  # fmt: skip
Stage = Literal["none", "staging", "production", "archived"]


class MetricThreshold(SpecModel):
    """Bounds an evaluation metric must meet before the model may serve in production."""

    min: float | None = None
    max: float | None = None


class ModelCard(SpecModel):
    """What reviewers and users need to know about a model."""

    intended_use: str = ""
    limitations: str = ""
    metrics: dict[Identifier, MetricThreshold] = {}
    """Evaluation metrics with the thresholds they must meet, e.g. roc_auc: {min: 0.85}."""
    fairness: str = ""
    """Fairness considerations and the evaluation done."""
    approver: EmailStr | None = None
    """Who approved the model for its stage."""
    evaluation: dict[Identifier, float] = {}
    """Measured results of the version under review, e.g. roc_auc: 0.93 (checked against metrics)."""


class ModelSource(SpecModel):
    """The pipeline output that produces the model (lineage)."""

    pipeline: Name
    step: Name
    output: Identifier


class ModelSpec(SpecModel):
    """A model in the registry, owned by the team whose file declares it."""

    description: str = ""
    framework: Framework
    registry_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][\w.-]{0,127}$")
    """Name in the model registry; defaults to '<team>.<model>'."""
    stage: Stage = "none"
    source: ModelSource | None = None
    card: ModelCard = ModelCard()


class AutoscalingSpec(SpecModel):
    metric: Literal["concurrency", "rps", "cpu", "memory"] = "concurrency"
    target: int = Field(default=10, ge=1)
    """Target per replica: in-flight requests, requests/s, or utilisation percent."""


class CanarySpec(SpecModel):
    """Send a share of traffic to another model version."""

    version: int = Field(ge=1)
    traffic_percent: int = Field(ge=1, le=99)


class LatencyObjective(SpecModel):
    percentile: Literal[50, 90, 95, 99] = 99
    target_ms: int = Field(ge=1, le=600_000)


ModelVersion = int | Literal["latest"]


class EndpointSpec(SpecModel):
    """An online inference endpoint (KServe InferenceService in the cluster)."""

    description: str = ""
    model: Name
    """Model to serve (a model of any team, by name)."""
    version: ModelVersion = "latest"
    runtime: Runtime
    image: str | None = None
    """Container image; required for runtime 'custom', not allowed otherwise."""
    port: int = Field(default=8080, ge=1024, le=65535)
    """Port of a custom image."""
    min_replicas: int = Field(default=1, ge=0, le=100)
    max_replicas: int = Field(default=1, ge=1, le=100)
    autoscaling: AutoscalingSpec = AutoscalingSpec()
    resources: Resources = Resources()
    node_pool: Name | None = None
    canary: CanarySpec | None = None
    latency_objective: LatencyObjective | None = None
    feature_service: Name | None = None
    """Requests carry only entity keys; the service's features are read online."""
    monitoring: MonitoringSpec | None = None
    """Payload logging, drift checks against the training data, and retraining on drift."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise PydanticCustomError(
                "size_bounds",
                "min_replicas ({min}) is greater than max_replicas ({max})",
                {
                    "min": self.min_replicas,
                    "max": self.max_replicas,
                    "field": "min_replicas",
                    "hint": "set min <= max",
                },
            )
        if self.runtime == "custom" and not self.image:
            raise PydanticCustomError(
                "custom_runtime_image",
                "runtime 'custom' needs an image",
                {
                    "field": "runtime",
                    "hint": "add image: registry.example.com/team/server@sha256:...",
                },
            )
        if self.runtime != "custom" and self.image:
            raise PydanticCustomError(
                "custom_runtime_image",
                "image is only used with runtime 'custom' (runtime is '{runtime}')",
                {
                    "runtime": self.runtime,
                    "field": "image",
                    "hint": "remove image, or set runtime: custom",
                },
            )
        if self.canary and self.version != "latest" and self.canary.version == self.version:
            raise PydanticCustomError(
                "canary_same_version",
                "canary version {version} is the version already served",
                {
                    "version": self.version,
                    "field": "canary",
                    "hint": "point the canary at the new version",
                },
            )
        return self
