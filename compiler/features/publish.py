"""The step that publishes a step's Dataset as the rows of a feature source: linking adds
one right after each step that a source names in `written_by`."""

from kfp.dsl import Dataset, Input


def publish_source(data: Input[Dataset], uri: str) -> None:
    """Write the Dataset (Parquet, or CSV) as Parquet where the store reads the source.

    In the cluster `uri` is the source's S3 object (written with the step's IRSA role); on
    the local platform it is relative to the deploy's Feast repository, which the deploy
    names in MLPLAT_FEATURE_REPO. Written to a temporary name and renamed, so the store
    never reads half a file.
    """
    import os

    import pyarrow.parquet as pq

    if data.path.endswith(".csv"):
        from pyarrow import csv

        table = csv.read_csv(data.path)
    else:
        table = pq.read_table(data.path)
    if "://" in uri:
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(uri)
        pq.write_table(table, path, filesystem=filesystem)
    else:
        repo = os.environ.get("MLPLAT_FEATURE_REPO")
        if not repo:
            raise RuntimeError(
                "MLPLAT_FEATURE_REPO is not set: the local deploy names its Feast repository"
            )
        target = os.path.join(repo, uri)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        pq.write_table(table, target + ".tmp")
        os.replace(target + ".tmp", target)
    print(f"published {table.num_rows} rows to {uri}")
