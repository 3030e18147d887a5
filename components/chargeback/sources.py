"""The feature sources shipped with the example: card profiles and daily card activity.

`python -m components.chargeback.sources` rewrites the Parquet files in `data/`; the labels
step (`labels.py`) draws the same latent risk per card from the same seed, so the features
explain the labels the way real history would.
"""

from __future__ import annotations

import sys
from pathlib import Path

N_CARDS = 120
FIRST_CARD = 1000
SEED = 13
DATA = Path(__file__).parent / "data"


def write_sources(folder: Path = DATA) -> None:
    """card_profiles.parquet (one row per card) and card_activity.parquet (a row per card and day)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    risk = rng.normal(size=N_CARDS)
    cards = np.arange(FIRST_CARD, FIRST_CARD + N_CARDS, dtype="int64")
    profiles = pd.DataFrame(
        {
            "card_id": cards,
            "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
            "card_age_days": np.clip(900 - 250 * risk + rng.normal(0, 60, N_CARDS), 5, 4000).astype(
                "int64"
            ),
            "credit_limit": np.round(3000 - 600 * risk + rng.normal(0, 300, N_CARDS), 2),
        }
    )
    days = pd.date_range("2026-03-01", periods=10, freq="D", tz="UTC")
    rows = []
    for day in days:
        rows.append(
            pd.DataFrame(
                {
                    "card_id": cards,
                    "event_timestamp": day,
                    "tx_count_7d": rng.poisson(np.exp(2.0 + 0.3 * risk)).astype("int64"),
                    "amount_sum_7d": np.round(rng.lognormal(5.0 + 0.4 * risk, 0.3), 2),
                    "chargeback_rate_90d": np.round(
                        np.clip(0.02 + 0.015 * risk + rng.normal(0, 0.005, N_CARDS), 0, 1), 4
                    ),
                }
            )
        )
    activity = pd.concat(rows, ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    profiles.to_parquet(folder / "card_profiles.parquet", index=False)
    activity.to_parquet(folder / "card_activity.parquet", index=False)


if __name__ == "__main__":
    write_sources(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
