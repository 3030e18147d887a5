"""Sources other than a Parquet file of the repository: a CSV file (its columns are checked
like a Parquet file's, and the store gets it as Parquet), and the Dataset of a step, which
the publish step writes where the store reads it."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow.parquet as pq
import pytest

from compiler.deploy.local.features import source_bytes
from compiler.features.publish import publish_source
from compiler.ir_features import FeatureSource
from compiler.link_features import _columns

CSV = "card_id,event_timestamp,notes,score\n1000,2026-03-01T00:00:00Z,late,0.5\n1001,2026-03-02T00:00:00Z,,1.5\n"


def test_a_csv_source_has_typed_columns_and_reaches_the_store_as_parquet(tmp_path: Path):
    path = tmp_path / "notes.csv"
    path.write_text(CSV)
    assert _columns(str(path), path.stat().st_mtime) == {
        "card_id": "int64",
        "event_timestamp": "timestamp[s, tz=UTC]",
        "notes": "string",
        "score": "double",
    }
    source = FeatureSource(
        name="notes",
        team="t",
        feast_name="t__notes",
        description="",
        path=str(path),  # absolute: the repository root is not involved
        uri="sources/t/notes.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_field=None,
    )
    data = source_bytes(source, tmp_path)
    assert data is not None and data == source_bytes(source, tmp_path)  # deterministic
    frame = pq.read_table(io.BytesIO(data)).to_pandas()
    assert list(frame["card_id"]) == [1000, 1001] and list(frame["score"]) == [0.5, 1.5]


def test_a_source_a_step_writes_has_no_rows_until_it_is_published(tmp_path: Path, monkeypatch):
    source = FeatureSource(
        name="labels",
        team="t",
        feast_name="t__labels",
        description="",
        path="",
        written_by=("p", "s", "labels"),
        uri="sources/t/labels.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_field=None,
    )
    assert source_bytes(source, tmp_path) is None
    rows = pd.DataFrame({"card_id": [1, 2], "chargeback": [0, 1]})
    written = tmp_path / "step-output"
    rows.to_parquet(written, index=False)
    monkeypatch.setenv("MLPLAT_FEATURE_REPO", str(tmp_path / "repo"))
    publish_source(SimpleNamespace(path=str(written)), source.uri)  # type: ignore[arg-type]
    published = tmp_path / "repo" / source.uri
    assert pd.read_parquet(published).equals(rows)
    assert source_bytes(source, tmp_path / "repo") == published.read_bytes()
    assert not list(published.parent.glob("*.tmp"))  # written whole, then renamed


def test_publishing_locally_needs_the_deploys_repository(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MLPLAT_FEATURE_REPO", raising=False)
    written = tmp_path / "out.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(written)
    with pytest.raises(RuntimeError, match="MLPLAT_FEATURE_REPO is not set"):
        publish_source(SimpleNamespace(path=str(written)), "sources/t/x.parquet")  # type: ignore[arg-type]


@pytest.mark.parametrize(("env", "problem"), [("local", None), ("prod", "E309")])
def test_a_csv_source_is_read_by_the_local_store_only(env, problem, configs, monkeypatch):
    from compiler import link_features
    from compiler.frontend import load_platform

    repo = configs.parent  # a repository of its own: the example's data files and a CSV
    shutil.copytree(link_features.REPO / "components", repo / "components")
    (repo / "data").mkdir()
    (repo / "data" / "notes.csv").write_text(CSV)
    monkeypatch.setattr(link_features, "REPO", repo)
    team = configs / "teams" / "chargeback.yaml"
    text = team.read_text()
    team.write_text(
        text.replace(
            "\nfeature_views:\n", "  card-notes: {path: data/notes.csv}\n\nfeature_views:\n"
        )
    )
    result = load_platform(configs, [f"env={env}"])
    found = [d for d in result.diagnostics if d.code == "E309"]
    if problem is None:
        assert result.ok and result.ir is not None, [d.render() for d in result.diagnostics]
        assert result.ir.teams["chargeback"].sources["card-notes"].uri == (
            "sources/chargeback/notes.parquet"
        )
    else:
        (diag,) = found
        assert diag.message == (
            "source 'card-notes' of team 'chargeback' is a CSV file, which only the local store "
            "reads (converted); the cloud store reads Parquet from the datasets bucket"
        )
