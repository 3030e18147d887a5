"""Train the pointwise click model that re-ranks search results."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output


def train_ranker(
    clicks: Input[Dataset], max_depth: int, model: Output[Model], metrics: Output[Metrics]
) -> None:
    """Fit a random forest that predicts a click from result features; rank by its probability.

    Evaluated on held-out queries: accuracy, ROC AUC and mean reciprocal rank of the
    first click. Saved with joblib as `model.joblib` inside the model artifact's folder.
    """
    import os

    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score

    frame = pd.read_csv(clicks.path)
    label = "clicked"
    features = ["position", "text_match", "popularity", "freshness_days", "query_terms"]
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"].copy()
    ranker = RandomForestClassifier(
        n_estimators=60, max_depth=max_depth, min_samples_leaf=5, random_state=0, n_jobs=1
    )
    ranker.fit(train[features], train[label])
    test["score"] = ranker.predict_proba(test[features])[:, 1]
    accuracy = float(accuracy_score(test[label], ranker.predict(test[features])))
    roc_auc = float(roc_auc_score(test[label], test["score"]))
    reciprocal_ranks = []
    for _, page in test.groupby("query_id"):
        ranked = page.sort_values("score", ascending=False)[label].to_numpy()
        hits = np.flatnonzero(ranked)
        reciprocal_ranks.append(1.0 / (hits[0] + 1) if hits.size else 0.0)

    os.makedirs(model.path, exist_ok=True)
    joblib.dump(ranker, os.path.join(model.path, "model.joblib"))
    model.metadata["framework"] = "sklearn"
    model.metadata["model_file"] = "model.joblib"
    model.metadata["features"] = features
    metrics.log_metric("accuracy", accuracy)
    metrics.log_metric("roc_auc", roc_auc)
    metrics.log_metric("mrr", float(np.mean(reciprocal_ranks)))
    metrics.log_metric("train_rows", len(train))
