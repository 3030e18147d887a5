"""Build the demand series the forecaster learns from."""

from kfp.dsl import Dataset, Output


def make_series(n_series: int, window: int, seed: int, dataset: Output[Dataset]) -> None:
    """Synthetic daily demand: trend, weekly season and noise, cut into (window → next) rows.

    Written as a `.npz` file with `x` (rows x window), `y` (rows) and `split` (0 train,
    1 validation, the last tenth of every series), so every trainer scores the same rows.
    """
    import os

    import numpy as np

    if n_series < 2 or window < 2:
        raise ValueError(f"need n_series >= 2 and window >= 2, got {n_series}, {window}")
    rng = np.random.default_rng(seed)
    length = 8 * window
    t = np.arange(length, dtype=np.float64)
    xs, ys, splits = [], [], []
    for _ in range(n_series):
        level = rng.uniform(5.0, 15.0)
        trend = rng.uniform(-0.02, 0.05)
        season = rng.uniform(1.0, 3.0)
        series = level + trend * t + season * np.sin(2 * np.pi * t / 7.0)
        series += rng.normal(0.0, 0.3, size=length)
        rows = length - window
        cut = int(rows * 0.9)
        for start in range(rows):
            xs.append(series[start : start + window])
            ys.append(series[start + window])
            splits.append(0 if start < cut else 1)
    os.makedirs(os.path.dirname(dataset.path) or ".", exist_ok=True)
    with open(dataset.path, "wb") as out:
        np.savez(
            out,
            x=np.asarray(xs, dtype=np.float32),
            y=np.asarray(ys, dtype=np.float32),
            split=np.asarray(splits, dtype=np.int8),
        )
    dataset.metadata["rows"] = len(ys)
    dataset.metadata["window"] = window
