"""Build a click log of search result pages."""

from kfp.dsl import Dataset, Output


def make_click_log(n_queries: int, seed: int, clicks: Output[Dataset]) -> None:
    """Generate synthetic result pages (ten results per query) and the clicks they got.

    Clicks follow a position-biased model: a result is clicked when it is examined
    (less likely further down the page) and found relevant (text match, popularity,
    freshness). Queries, not rows, are split into train and test so that no query leaks.
    """
    import numpy as np
    import pandas as pd

    if n_queries < 20:
        raise ValueError(f"n_queries must be at least 20, got {n_queries}")
    rng = np.random.default_rng(seed)
    per_page = 10
    rows = n_queries * per_page
    query_id = np.repeat(np.arange(n_queries), per_page)
    position = np.tile(np.arange(1, per_page + 1), n_queries)
    frame = pd.DataFrame(
        {
            "query_id": query_id,
            "position": position,
            "text_match": rng.beta(2.0, 2.0, size=rows),
            "popularity": rng.beta(1.5, 4.0, size=rows),
            "freshness_days": rng.integers(0, 365, size=rows),
            "query_terms": np.repeat(rng.integers(1, 6, size=n_queries), per_page),
        }
    )
    relevance = (
        3.0 * frame["text_match"]
        + 2.0 * frame["popularity"]
        - 0.004 * frame["freshness_days"]
        + 0.1 * frame["query_terms"]
        - 2.0
    )
    examined = rng.random(rows) < 1.0 / np.sqrt(position)
    relevant = rng.random(rows) < 1.0 / (1.0 + np.exp(-2.5 * relevance))
    frame["clicked"] = (examined & relevant).astype(int)
    test_queries = rng.random(n_queries) < 0.25
    frame["split"] = np.where(test_queries[query_id], "test", "train")
    frame.to_csv(clicks.path, index=False)
    clicks.metadata["rows"] = int(rows)
    clicks.metadata["queries"] = int(n_queries)
    clicks.metadata["click_rate"] = float(frame["clicked"].mean())
    clicks.metadata["format"] = "csv"
    clicks.metadata["label"] = "clicked"
