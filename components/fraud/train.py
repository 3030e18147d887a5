"""Train the fraud classifier."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output


def train_model(
    dataset: Input[Dataset], learning_rate: float, model: Output[Model], metrics: Output[Metrics]
) -> None:
    """Fit a gradient-boosted classifier on the training rows; score it on the held-out rows.

    The model is saved with joblib as `model.joblib` inside the model artifact's folder,
    the layout that MLServer's and KServe's scikit-learn runtimes load.
    """
    import os

    import joblib
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score

    frame = pd.read_csv(dataset.path)
    label = "is_fraud"
    features = [c for c in frame.columns if c not in (label, "split")]
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"]
    classifier = HistGradientBoostingClassifier(
        learning_rate=learning_rate, max_iter=150, max_depth=4, random_state=0
    )
    classifier.fit(train[features], train[label])
    scores = classifier.predict_proba(test[features])[:, 1]
    roc_auc = float(roc_auc_score(test[label], scores))
    accuracy = float(accuracy_score(test[label], classifier.predict(test[features])))

    os.makedirs(model.path, exist_ok=True)
    joblib.dump(classifier, os.path.join(model.path, "model.joblib"))
    model.metadata["framework"] = "sklearn"
    model.metadata["model_file"] = "model.joblib"
    model.metadata["features"] = features
    model.metadata["roc_auc"] = roc_auc
    metrics.log_metric("roc_auc", roc_auc)
    metrics.log_metric("accuracy", accuracy)
    metrics.log_metric("train_rows", len(train))
