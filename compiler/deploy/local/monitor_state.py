"""What `mlplat monitor` remembers per endpoint (in the state file), and the card gate.

Kept apart from the drift code so that the state file and `mlplat deploy` read it without
importing scipy or matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from compiler.deploy.local.state import ModelRecord, ModelVersionRecord
    from compiler.ir import Endpoint

HISTORY = 50


class DriftPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checked_at: str
    version: int | None
    drift_share: float | None
    rows: int


class MonitorRecord(BaseModel):
    """The last drift check of an endpoint and its last retraining run."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "drift", "not enough data", "not serving", "no reference"] = "ok"
    checked_at: str | None = None
    version: int | None = None
    """Model version whose requests were checked."""
    rows: int = 0
    drift_share: float | None = None
    drifted_features: list[str] = []
    scores: dict[str, float] = {}
    report: str | None = None
    """HTML report of the last check, relative to the state folder."""
    positive_rate: float | None = None
    """Share of positive predictions in the window (with `monitoring.prediction`)."""
    latency_ms: float | None = None
    """Server-side latency at the objective's percentile (with `latency_objective`)."""
    objectives_missed: list[str] = []
    retrain_started_at: str | None = None
    """Start of the last retraining run (the cool-down counts from it)."""
    retrain_epoch: float | None = None
    retrain_run: str | None = None
    retrain_result: str | None = None
    history: list[DriftPoint] = []


def serving_version(model: ModelRecord, endpoint: Endpoint) -> ModelVersionRecord | None:
    """The version an endpoint following 'latest' serves.

    An endpoint that retrains on drift serves the newest version that passed its model card
    (a retrained version that misses the card is registered but not rolled out); any other
    endpoint, the newest version.
    """
    mon = endpoint.monitoring
    if mon is None or mon.retrain_pipeline is None:
        return model.latest()
    passed = [v for v in model.versions if v.card_check != "failed"]
    return max(passed, key=lambda v: v.version) if passed else model.latest()
