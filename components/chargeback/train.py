"""Train the chargeback-risk classifier on the feature service's training frame."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output


def train_model(features: Input[Dataset], model: Output[Model], metrics: Output[Metrics]) -> None:
    """Fit a logistic regression on the point-in-time training frame (Parquet).

    The frame holds the entity rows (card_id, event_timestamp, chargeback) and the service's
    features in its order, which is the order the endpoint sends them in. Rows without a
    feature value in reach of the views' TTL are dropped.
    """
    import os

    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pd.read_parquet(features.path)
    names = list(features.metadata["features"])
    frame = frame.dropna(subset=names)
    train = frame[frame["card_id"] % 4 != 0]
    test = frame[frame["card_id"] % 4 == 0]
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    classifier.fit(train[names].astype("float64"), train["chargeback"])
    os.makedirs(model.path, exist_ok=True)
    joblib.dump(classifier, os.path.join(model.path, "model.joblib"))
    model.metadata["framework"] = "sklearn"
    model.metadata["model_file"] = "model.joblib"
    model.metadata["features"] = names
    scores = classifier.predict_proba(test[names].astype("float64"))[:, 1]
    metrics.log_metric("roc_auc", float(roc_auc_score(test["chargeback"], scores)))
    metrics.log_metric("train_rows", len(train))
