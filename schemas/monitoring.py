"""Monitoring of an endpoint: payload logging, drift against the training data, and what to do
when the inputs drift (alert, or retrain the model with a cool-down)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.types import Cron, Duration, Identifier, Name, SpecModel

DriftMethod = Literal["ks", "psi", "wasserstein", "chi2"]

# Default threshold of each method, and whether a score above (True) or below (False) it drifts.
METHOD_THRESHOLDS: dict[str, tuple[float, bool]] = {
    "ks": (0.01, False),  # p-value of the two-sample Kolmogorov-Smirnov test
    "chi2": (0.01, False),  # p-value of the chi-square test on category counts
    "psi": (0.2, True),  # population stability index over reference deciles
    "wasserstein": (0.25, True),  # earth mover's distance in reference standard deviations
}


class FeatureMonitor(SpecModel):
    """How one input feature is compared with the reference data."""

    method: DriftMethod = "ks"
    """ks and chi2 drift when the test's p-value is below the threshold; psi and wasserstein
    when the score is above it."""
    threshold: float | None = Field(default=None, gt=0)
    """Default per method: ks 0.01, chi2 0.01, psi 0.2, wasserstein 0.25."""

    @model_validator(mode="after")
    def _p_value(self) -> Self:
        above = METHOD_THRESHOLDS[self.method][1]
        if not above and self.threshold is not None and self.threshold >= 1:
            raise PydanticCustomError(
                "p_value",
                "threshold {threshold} of method '{method}' is a p-value and must be below 1",
                {
                    "threshold": self.threshold,
                    "method": self.method,
                    "field": "threshold",
                    "hint": "use e.g. 0.01 (drift when the test's p-value is below it)",
                },
            )
        return self

    def resolved_threshold(self) -> float:
        return self.threshold if self.threshold is not None else METHOD_THRESHOLDS[self.method][0]


class ReferenceSpec(SpecModel):
    """The data the live inputs are compared with: a Dataset output of a pipeline step."""

    pipeline: Name | None = None
    """Default: the pipeline that trains the served model."""
    step: Name
    output: Identifier


class WindowSpec(SpecModel):
    """Which logged requests a drift check looks at: the last N, and/or those of a period."""

    requests: int | None = Field(default=1000, ge=10, le=10_000_000)
    duration: Duration | None = None
    """Only requests logged within this period, e.g. '24h'."""


class RetrainSpec(SpecModel):
    pipeline: Name
    """The team's pipeline that trains the monitored model."""
    cooldown: Duration = 21600
    """No second retraining run within this period after one started (default '6h')."""


class DriftAction(SpecModel):
    """What happens when a check finds drift: an alert always, a retraining run if set."""

    retrain: RetrainSpec | None = None


class PredictionObjective(SpecModel):
    """Bounds on the share of positive predictions (output column 1 of predict_proba)."""

    output: Identifier = "predict_proba"
    max_positive_rate: float | None = Field(default=None, gt=0, le=1)
    min_positive_rate: float | None = Field(default=None, ge=0, lt=1)


class MonitoringSpec(SpecModel):
    """Log what the endpoint sees, compare it with the training data, act on drift."""

    features: dict[Identifier, FeatureMonitor] = Field(min_length=1, max_length=500)
    """Input features to watch, each with its drift method and threshold."""
    reference: ReferenceSpec | None = None
    """Default: the Dataset the model's training step reads."""
    window: WindowSpec = WindowSpec()
    min_requests: int = Field(default=100, ge=10)
    """Fewer logged requests than this: the check reports 'not enough data', no drift."""
    drift_share: float = Field(default=0.0, ge=0, lt=1)
    """The endpoint drifts when more than this share of its features drift (0: any one)."""
    schedule: Cron = "0 * * * *"
    """When the cluster's drift job runs (UTC)."""
    sample_rate: float = Field(default=1.0, gt=0, le=1)
    """Share of requests whose payload is logged."""
    prediction: PredictionObjective | None = None
    on_drift: Literal["alert"] | DriftAction = "alert"

    @model_validator(mode="after")
    def _window(self) -> Self:
        wanted = self.window.requests
        if wanted is not None and self.min_requests > wanted:
            raise PydanticCustomError(
                "monitoring_window",
                "min_requests ({min}) is larger than the window of {window} requests",
                {
                    "min": self.min_requests,
                    "window": wanted,
                    "field": "min_requests",
                    "hint": "lower min_requests or widen window.requests",
                },
            )
        return self

    @property
    def retrain(self) -> RetrainSpec | None:
        return self.on_drift.retrain if isinstance(self.on_drift, DriftAction) else None
