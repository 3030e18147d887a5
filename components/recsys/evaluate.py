"""Offline evaluation of the recommendation model trained by the GPU step."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output


def evaluate_ranking(
    features: Input[Dataset], model: Input[Model], k: int, metrics: Output[Metrics]
) -> float:
    """NDCG@k, precision@k and catalogue coverage of the model's top-k per user; returns NDCG@k.

    Formats (written by the feature and trainer containers):
      - features: an `.npz` file with `relevance`, a users x items matrix of held-out
        graded interactions (0 = none), and optionally `seen`, a users x items 0/1
        matrix of training interactions that must not be recommended again;
      - model: an `.npz` file with `user_factors` (users x d) and `item_factors` (items x d);
        a user's score for an item is the dot product.
    """
    import numpy as np

    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    with np.load(features.path) as data:
        relevance = np.asarray(data["relevance"], dtype=float)
        seen = np.asarray(data["seen"], dtype=bool) if "seen" in data else None
    with np.load(model.path) as factors:
        scores = factors["user_factors"] @ factors["item_factors"].T
    if scores.shape != relevance.shape:
        raise ValueError(f"model scores {scores.shape} do not match features {relevance.shape}")
    if seen is not None:
        scores = np.where(seen, -np.inf, scores)
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    gains = np.take_along_axis(relevance, top, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gains * discounts).sum(axis=1)
    ideal = (-np.sort(-relevance, axis=1)[:, :k] * discounts).sum(axis=1)
    evaluated = ideal > 0
    ndcg = float((dcg[evaluated] / ideal[evaluated]).mean()) if evaluated.any() else 0.0
    metrics.log_metric("ndcg_at_k", ndcg)
    metrics.log_metric("precision_at_k", float((gains > 0).mean()))
    metrics.log_metric("coverage", float(np.unique(top).size / scores.shape[1]))
    metrics.log_metric("users_evaluated", int(evaluated.sum()))
    metrics.log_metric("k", k)
    return ndcg
