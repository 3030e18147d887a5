"""Drift of logged inputs against the reference data, one statistic per feature (scipy.stats).

scipy was chosen by measurement (benchmarks/drift_libraries.py, README "Monitoring"): it is
already in the pinned set, imports in a fraction of a second, flags a known shift and stays
quiet without one, and checks 10k rows in milliseconds. The statistics come from scipy; this
module only chooses bins and applies each method's threshold.

- ks: two-sample Kolmogorov-Smirnov test (`scipy.stats.ks_2samp`); drift when p < threshold.
- chi2: chi-square test of independence on category counts (`scipy.stats.chi2_contingency`);
  drift when p < threshold.
- psi: population stability index over the reference's deciles, the symmetrised relative
  entropy of the two histograms (`scipy.special.rel_entr`); drift when above the threshold.
- wasserstein: earth mover's distance (`scipy.stats.wasserstein_distance`) in reference
  standard deviations; drift when above the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schemas.monitoring import METHOD_THRESHOLDS, FeatureMonitor

_EPS = 1e-4


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    method: str
    score: float
    """p-value (ks, chi2) or distance (psi, wasserstein)."""
    threshold: float
    drifted: bool
    reference_n: int
    current_n: int
    statistic: float | None = None
    """The test statistic behind a p-value (KS D, chi-square)."""
    reference_mean: float | None = None
    current_mean: float | None = None


@dataclass(frozen=True)
class DriftResult:
    features: list[FeatureDrift]
    rows: int
    drift_share: float
    """Share of the monitored features that drifted: the endpoint's drift score."""
    drifted: bool
    missing: list[str] = field(default_factory=list)
    """Monitored features absent from the logged requests."""

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]


def _numeric(values: Sequence[Any]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def feature_drift(
    feature: str, method: str, threshold: float, reference: Sequence[Any], current: Sequence[Any]
) -> FeatureDrift:
    """One feature's drift score and verdict."""
    from scipy import special, stats

    above = METHOD_THRESHOLDS[method][1]
    statistic: float | None = None
    if method == "chi2":
        ref = np.asarray(reference)
        cur = np.asarray(current)
        categories = np.union1d(np.unique(ref), np.unique(cur))
        table = np.array(
            [[np.sum(ref == c) for c in categories], [np.sum(cur == c) for c in categories]]
        )
        if len(categories) < 2:
            score, statistic = 1.0, 0.0
        else:
            result = stats.chi2_contingency(table)
            score, statistic = float(result.pvalue), float(result.statistic)
        ref_n, cur_n = len(ref), len(cur)
        ref_mean = float(np.mean(ref.astype(float))) if ref_n and ref.dtype.kind in "biuf" else None
        cur_mean = float(np.mean(cur.astype(float))) if cur_n and cur.dtype.kind in "biuf" else None
    else:
        ref = _numeric(reference)
        cur = _numeric(current)
        ref_n, cur_n = len(ref), len(cur)
        ref_mean, cur_mean = float(ref.mean()), float(cur.mean())
        if method == "ks":
            result = stats.ks_2samp(ref, cur)
            score, statistic = float(result.pvalue), float(result.statistic)
        elif method == "wasserstein":
            scale = float(ref.std()) or 1.0
            score = float(stats.wasserstein_distance(ref, cur)) / scale
        else:  # psi
            edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
            edges[0], edges[-1] = -np.inf, np.inf
            ref_p = np.histogram(ref, edges)[0] / max(ref_n, 1) + _EPS
            cur_p = np.histogram(cur, edges)[0] / max(cur_n, 1) + _EPS
            score = float(np.sum(special.rel_entr(cur_p, ref_p) + special.rel_entr(ref_p, cur_p)))
    drifted = score > threshold if above else score < threshold
    return FeatureDrift(
        feature,
        method,
        score,
        threshold,
        bool(drifted),
        ref_n,
        cur_n,
        statistic,
        ref_mean,
        cur_mean,
    )


def check(
    features: Mapping[str, FeatureMonitor],
    reference: Mapping[str, Sequence[Any]],
    current: Mapping[str, Sequence[Any]],
    drift_share: float = 0.0,
) -> DriftResult:
    """Every monitored feature against the reference; the endpoint drifts when more than
    `drift_share` of them do."""
    results = []
    missing = []
    for name, monitor in features.items():
        if name not in current or not len(current[name]) or name not in reference:
            missing.append(name)
            continue
        threshold = monitor.resolved_threshold()
        results.append(
            feature_drift(name, monitor.method, threshold, reference[name], current[name])
        )
    share = sum(r.drifted for r in results) / len(features) if features else 0.0
    rows = max((r.current_n for r in results), default=0)
    return DriftResult(results, rows, share, share > drift_share, missing)
