"""Evaluate the trained fraud classifier on held-out transactions."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output


def evaluate_model(dataset: Input[Dataset], model: Input[Model], report: Output[Metrics]) -> float:
    """Score the held-out rows with the trained model; return its ROC AUC.

    The report holds ROC AUC, average precision, accuracy, and precision and recall at
    the 0.5 threshold; the returned ROC AUC lets later steps or runs gate on it.
    """
    import os

    import joblib
    import pandas as pd
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    frame = pd.read_csv(dataset.path)
    test = frame[frame["split"] == "test"]
    classifier = joblib.load(
        os.path.join(model.path, model.metadata.get("model_file", "model.joblib"))
    )
    features = list(model.metadata.get("features") or classifier.feature_names_in_)
    scores = classifier.predict_proba(test[features])[:, 1]
    predicted = (scores >= 0.5).astype(int)
    truth = test["is_fraud"]
    roc_auc = float(roc_auc_score(truth, scores))
    report.log_metric("roc_auc", roc_auc)
    report.log_metric("average_precision", float(average_precision_score(truth, scores)))
    report.log_metric("accuracy", float(accuracy_score(truth, predicted)))
    report.log_metric("precision", float(precision_score(truth, predicted, zero_division=0)))
    report.log_metric("recall", float(recall_score(truth, predicted, zero_division=0)))
    report.log_metric("test_rows", len(test))
    return roc_auc
