"""Feature source files of the repository as the store gets them: Parquet as it is, CSV
read with Arrow's type inference (ISO times become timestamps). Linking checks their
columns with it; the local store gets them as Parquet from it."""

from __future__ import annotations

from typing import Any


def read_source_table(path: str) -> Any:
    """A Parquet or CSV file as an Arrow table."""
    if path.endswith(".csv"):
        from pyarrow import csv

        return csv.read_csv(path)
    import pyarrow.parquet as pq

    return pq.read_table(path)
