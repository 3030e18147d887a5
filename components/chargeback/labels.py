"""Chargeback labels: which card disputed a payment, and when that became known."""

from kfp.dsl import Dataset, Output


def make_labels(seed: int, labels: Output[Dataset]) -> None:
    """Entity rows of the training frame: card_id, event_timestamp, the payment `amount` (the
    request value of the on-demand view payment-vs-habit) and the label `chargeback`.

    Two labelled moments per card between 2026-03-02 and 2026-03-11; a card's chance of a
    chargeback follows the same latent risk (same seed and card count) its features were
    drawn from. Written as Parquet.
    """
    import numpy as np
    import pandas as pd

    n_cards, first_card = 120, 1000
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n_cards)
    draw = np.random.default_rng(seed + 1)
    cards = np.repeat(np.arange(first_card, first_card + n_cards, dtype="int64"), 2)
    hours = draw.integers(24, 24 * 10, size=len(cards))
    chance = 1.0 / (1.0 + np.exp(-(2.5 * np.repeat(risk, 2) - 1.0)))
    frame = pd.DataFrame(
        {
            "card_id": cards,
            "event_timestamp": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.to_timedelta(hours, unit="h"),
            "chargeback": (draw.random(len(cards)) < chance).astype("int64"),
        }
    )
    amounts = np.random.default_rng(seed + 2).lognormal(3.0, 0.8, size=len(cards))
    frame.insert(2, "amount", amounts.round(2))
    frame.to_parquet(labels.path, index=False)
    labels.metadata["rows"] = len(frame)
    labels.metadata["format"] = "parquet"
