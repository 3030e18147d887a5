"""Build the labelled transaction set that the fraud model learns from."""

from kfp.dsl import Dataset, Output


def make_transactions(
    n_samples: int, fraud_rate: float, seed: int, dataset: Output[Dataset]
) -> None:
    """Generate synthetic card transactions with a fraud label and a train/test split.

    Fraud is more likely for large amounts, night-time hours, risky merchants, distant
    locations, new cards and bursts of activity; the label marks the `fraud_rate` share
    of transactions with the highest (noisy) risk. Written as CSV with a `split` column
    so that training and evaluation agree on the held-out rows.
    """
    import numpy as np
    import pandas as pd

    if n_samples < 100:
        raise ValueError(f"n_samples must be at least 100, got {n_samples}")
    if not 0.0 < fraud_rate < 0.5:
        raise ValueError(f"fraud_rate must be in (0, 0.5), got {fraud_rate}")
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(mean=3.5, sigma=1.0, size=n_samples), 2),
            "hour": rng.integers(0, 24, size=n_samples),
            "merchant_risk": rng.beta(2.0, 8.0, size=n_samples),
            "distance_km": np.round(rng.exponential(scale=20.0, size=n_samples), 1),
            "card_age_days": rng.integers(1, 3650, size=n_samples),
            "tx_last_24h": rng.poisson(lam=3.0, size=n_samples),
            "foreign": rng.random(n_samples) < 0.1,
        }
    )
    night = ((frame["hour"] < 6) | (frame["hour"] >= 23)).astype(float)
    risk = (
        0.9 * np.log1p(frame["amount"])
        + 1.2 * night
        + 4.0 * frame["merchant_risk"]
        + 0.02 * frame["distance_km"]
        - 0.4 * np.log1p(frame["card_age_days"])
        + 0.25 * frame["tx_last_24h"]
        + 1.0 * frame["foreign"].astype(float)
        + rng.normal(scale=0.8, size=n_samples)
    )
    frame["is_fraud"] = (risk >= np.quantile(risk, 1.0 - fraud_rate)).astype(int)
    frame["foreign"] = frame["foreign"].astype(int)
    frame["split"] = np.where(rng.random(n_samples) < 0.75, "train", "test")
    frame.to_csv(dataset.path, index=False)
    dataset.metadata["rows"] = int(n_samples)
    dataset.metadata["fraud_rate"] = float(frame["is_fraud"].mean())
    dataset.metadata["format"] = "csv"
    dataset.metadata["label"] = "is_fraud"
