"""The example organisation's step functions, called directly with kfp artifact objects.

The fraud steps also run end to end (test_e2e_local_run.py); the search steps and the
recsys evaluation (whose inputs come from container steps) are exercised here.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
import pandas as pd
import pytest
from kfp import dsl

from components.recsys.evaluate import evaluate_ranking
from components.search.data import make_click_log
from components.search.train import train_ranker


def test_search_steps_train_a_usable_click_model(tmp_path):
    clicks = dsl.Dataset(uri=str(tmp_path / "clicks.csv"))
    make_click_log(n_queries=300, seed=11, clicks=clicks)
    frame = pd.read_csv(clicks.path)
    assert len(frame) == 3000 and set(frame["split"]) == {"train", "test"}
    assert clicks.metadata["rows"] == 3000
    # position bias: the first result is clicked more often than the last
    by_position = frame.groupby("position")["clicked"].mean()
    assert by_position[1] > by_position[10]

    (tmp_path / "model").mkdir()
    model = dsl.Model(uri=str(tmp_path / "model"))
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    train_ranker(clicks=clicks, max_depth=3, model=model, metrics=metrics)
    assert model.metadata == {
        "framework": "sklearn",
        "model_file": "model.joblib",
        "features": ["position", "text_match", "popularity", "freshness_days", "query_terms"],
    }
    ranker = joblib.load(os.path.join(model.path, "model.joblib"))
    assert ranker.predict_proba(frame[model.metadata["features"]].head(5)).shape == (5, 2)
    assert metrics.metadata["accuracy"] >= 0.7
    assert 0.6 <= metrics.metadata["roc_auc"] <= 1.0
    assert 0.0 < metrics.metadata["mrr"] <= 1.0


def _write_npz(path, **arrays) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_recsys_evaluation_scores_a_factor_model(tmp_path):
    rng = np.random.default_rng(0)
    users, items, dims = 40, 30, 4
    user_factors = rng.normal(size=(users, dims))
    item_factors = rng.normal(size=(items, dims))
    true_scores = user_factors @ item_factors.T
    relevance = np.where(true_scores > np.quantile(true_scores, 0.8), 3, 0)
    features = dsl.Dataset(uri=str(tmp_path / "features"))
    _write_npz(features.path, relevance=relevance)

    perfect = dsl.Model(uri=str(tmp_path / "perfect"))
    _write_npz(perfect.path, user_factors=user_factors, item_factors=item_factors)
    metrics = dsl.Metrics(uri=str(tmp_path / "m1"))
    assert evaluate_ranking(features=features, model=perfect, k=5, metrics=metrics) == (
        pytest.approx(1.0)
    )
    assert metrics.metadata["users_evaluated"] > 0

    noise = dsl.Model(uri=str(tmp_path / "noise"))
    _write_npz(
        noise.path,
        user_factors=rng.normal(size=(users, dims)),
        item_factors=rng.normal(size=(items, dims)),
    )
    worse = evaluate_ranking(
        features=features, model=noise, k=5, metrics=dsl.Metrics(uri=str(tmp_path / "m2"))
    )
    assert 0.0 <= worse < 0.8
