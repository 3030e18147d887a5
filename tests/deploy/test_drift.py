"""Drift statistics: each method flags a known shift and stays quiet without one; the card
gate of retraining endpoints; the check of monitored features against the model's inputs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.deploy.local.drift import check, feature_drift
from compiler.deploy.local.monitor_state import serving_version
from compiler.deploy.local.state import ModelRecord, ModelVersionRecord
from compiler.diagnostics import Span
from compiler.link_monitoring import check_features
from schemas.monitoring import FeatureMonitor

RNG = np.random.default_rng(0)
REFERENCE = {
    "amount": RNG.lognormal(3.5, 1.0, 4000),
    "merchant_risk": RNG.beta(2, 8, 4000),
    "hour": RNG.integers(0, 24, 4000),
}


def _current(shift: bool, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "amount": rng.lognormal(3.5, 1.0, 500) * (1.8 if shift else 1.0),
        "merchant_risk": rng.beta(3, 6, 500) if shift else rng.beta(2, 8, 500),
        "hour": rng.integers(0, 12, 500) if shift else rng.integers(0, 24, 500),
    }


@pytest.mark.parametrize(
    ("feature", "method"),
    [
        ("amount", "ks"),
        ("amount", "wasserstein"),
        ("merchant_risk", "psi"),
        ("merchant_risk", "ks"),
        ("hour", "chi2"),
    ],
)
@pytest.mark.parametrize("shift", [False, True], ids=["no-shift", "shift"])
def test_each_method_flags_a_shift_and_only_a_shift(feature, method, shift):
    threshold = FeatureMonitor(method=method).resolved_threshold()
    result = feature_drift(
        feature, method, threshold, REFERENCE[feature], _current(shift, 11)[feature]
    )
    assert result.drifted is shift, result


def test_the_drift_score_is_the_share_of_drifted_features():
    monitors = {
        "amount": FeatureMonitor(method="ks"),
        "merchant_risk": FeatureMonitor(method="psi"),
        "hour": FeatureMonitor(method="chi2"),
    }
    current = _current(False, 3)
    current["amount"] = current["amount"] * 2
    result = check(monitors, REFERENCE, current)
    assert result.drifted_features == ["amount"] and result.drifted
    assert result.drift_share == pytest.approx(1 / 3)
    assert not check(monitors, REFERENCE, current, drift_share=0.5).drifted
    assert check(monitors, REFERENCE, {"hour": current["hour"]}).missing == [
        "amount",
        "merchant_risk",
    ]


def _version(number: int, card: str) -> ModelVersionRecord:
    return ModelVersionRecord(
        version=number,
        run_id=f"r{number}",
        mlflow_run_id=f"m{number}",
        pipeline_hash="h",
        model_path="/m",
        card_check=card,  # type: ignore[arg-type]
        registered_at="2026-01-01T00:00:00+00:00",
    )


def test_a_retraining_endpoint_serves_the_newest_version_that_passed_its_card(example_ir):
    endpoint = example_ir("local").ir.teams["fraud"].endpoints["fraud-scorer"]
    model = ModelRecord(
        team="fraud",
        name="fraud-classifier",
        registry_name="fraud.fraud-classifier",
        stage="staging",
        hash="x",
        versions=[_version(1, "passed"), _version(2, "failed")],
    )
    assert serving_version(model, endpoint).version == 1
    other = example_ir("local").ir.teams["search"].endpoints["search-ranker"]
    assert serving_version(model, other).version == 2  # no retraining: the newest


def test_monitored_features_the_model_does_not_take_are_located(example_ir):
    result = example_ir("local")
    endpoint = result.ir.teams["fraud"].endpoints["fraud-scorer"]

    def locate(path):
        return result.sources.locate(tuple(path)) or Span("?")

    taken = ["amount", "hour", "merchant_risk", "distance_km", "card_age_days", "foreign"]
    assert check_features(endpoint, [*taken, "tx_last_24h"], locate, 3) == []
    (diag,) = check_features(endpoint, [f for f in taken if f != "foreign"], locate, 3)
    assert diag.code == "E342"
    assert (
        diag.render()
        .splitlines()[0]
        .endswith(
            "error[E342]: endpoint 'fraud-scorer' monitors feature 'foreign', which version 3 of "
            "model 'fraud-classifier' does not take"
        )
    )
    assert diag.span.line == 93 and diag.span.file.endswith("teams/fraud.yaml")


def _answer(p_fraud: float, ms: float) -> dict:
    return {
        "outputs": {"predict_proba": {"shape": [1, 2], "data": [1 - p_fraud, p_fraud]}},
        "ms": ms,
    }


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([_answer(0.1, 5.0)] * 9 + [_answer(0.9, 5.0)], (0.1, 5.0, [])),
        (
            [_answer(0.9, 5.0)] * 5 + [_answer(0.1, 80.0)] * 5,
            (0.5, 80.0, ["positive rate 0.500 > 0.3", "p99 latency 80.0 ms > 50 ms"]),
        ),
        ([_answer(0.1, 5.0)] * 10, (0.0, 5.0, ["positive rate 0.000 < 0.01"])),
    ],
    ids=["within", "too-many-positives-and-slow", "no-positives"],
)
def test_prediction_and_latency_objectives(answers, expected):
    from compiler.deploy.local.monitor import objectives
    from schemas.monitoring import PredictionObjective
    from schemas.serving import LatencyObjective

    bounds = PredictionObjective(max_positive_rate=0.3, min_positive_rate=0.01)
    assert objectives(bounds, LatencyObjective(percentile=99, target_ms=50), answers) == expected
