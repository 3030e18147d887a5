"""Training frames through the real Feast (its own virtualenv, the compiled example repo):
the point-in-time join never looks past a label's time, even for rows that arrived late,
and never further back than the view's TTL; materialization keeps the newest value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from compiler.build import compile_files
from compiler.deploy.local.features import FeastWorker, sync_repo
from compiler.frontend import load_platform
from tests.helpers import apply_edits

pytestmark = pytest.mark.e2e
UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeastWorker]:
    root = tmp_path_factory.mktemp("pit")
    configs = root / "configs"
    import shutil

    from tests.conftest import CONFIGS

    shutil.copytree(CONFIGS, configs)
    apply_edits(
        configs,
        {
            "replace": {
                "file": "teams/chargeback.yaml",
                "old": "    path: components/chargeback/data/card_activity.parquet\n",
                "new": "    path: components/chargeback/data/card_activity.parquet\n"
                "    created_timestamp_field: created\n",
            }
        },
    )
    result = load_platform(configs)
    assert result.ok and result.ir is not None, [d.render() for d in result.diagnostics]
    compiled = root / "build"
    for rel, text in compile_files(result).files.items():
        if rel.startswith("features/"):
            (compiled / rel).parent.mkdir(parents=True, exist_ok=True)
            (compiled / rel).write_text(text)
    repo = root / "store" / "repo"
    sync_repo(result.ir, compiled / "features", repo)
    # Card 1 in the activity view: a row at 03-03 that only arrived on 03-06 (late), a
    # correction of it written later still, and a row at 03-05 after the first label.
    activity = pd.DataFrame(
        {
            "card_id": [1, 1, 1, 1, 2],
            "event_timestamp": [
                ts("2026-03-01"),
                ts("2026-03-03"),
                ts("2026-03-03"),
                ts("2026-03-05"),
                ts("2026-02-01"),
            ],
            "created": [
                ts("2026-03-01"),
                ts("2026-03-06"),
                ts("2026-03-07"),
                ts("2026-03-05"),
                ts("2026-02-01"),
            ],
            "tx_count_7d": [1, 30, 3, 5, 9],
            "amount_sum_7d": [10.0, 300.0, 30.0, 50.0, 90.0],
            "chargeback_rate_90d": [0.1, 0.3, 0.3, 0.5, 0.9],
        }
    )
    profiles = pd.DataFrame(
        {
            "card_id": [1, 2],
            "event_timestamp": [ts("2026-01-01"), ts("2026-01-01")],
            "card_age_days": [100, 200],
            "credit_limit": [1000.0, 2000.0],
        }
    )
    activity.to_parquet(repo / "sources" / "chargeback" / "card_activity.parquet", index=False)
    profiles.to_parquet(repo / "sources" / "chargeback" / "card_profiles.parquet", index=False)
    feast = FeastWorker(repo, root / "store" / "worker.log")
    feast.start()
    try:
        feast.call("apply")
        yield feast
    finally:
        feast.close()


def test_the_join_never_looks_past_the_label(worker: FeastWorker, tmp_path: Path) -> None:
    labels = pd.DataFrame(
        {
            "card_id": [1, 1, 1, 1, 2],
            "event_timestamp": [
                ts("2026-03-02"),
                ts("2026-03-04"),
                ts("2026-03-05 12:00"),
                ts("2026-03-20"),
                ts("2026-03-02"),
            ],
            "amount": [10.0, 20.0, 30.0, 40.0, 50.0],  # the on-demand view's request value
            "chargeback": [0, 0, 1, 0, 1],
        }
    )
    labels.to_parquet(tmp_path / "labels.parquet", index=False)
    result = worker.call(
        "historical",
        service="chargeback__chargeback_v1",
        entities=str(tmp_path / "labels.parquet"),
        out=str(tmp_path / "frame.parquet"),
    )
    assert result["features"] == [
        "card_age_days", "credit_limit", "tx_count_7d", "amount_sum_7d", "chargeback_rate_90d",
        "avg_amount_7d",
    ]  # fmt: skip
    frame = pd.read_parquet(tmp_path / "frame.parquet")
    by_time = {(int(r.card_id), r.event_timestamp): r for r in frame.itertuples(index=False)}
    # 03-02: only the 03-01 row had happened; the 03-03 and 03-05 rows are the future.
    assert by_time[(1, ts("2026-03-02"))].tx_count_7d == 1
    # 03-04: the 03-03 row counts by its event time although it arrived on 03-06, and of its
    # two versions the one written last wins; the 03-05 row is still the future.
    assert by_time[(1, ts("2026-03-04"))].tx_count_7d == 3
    assert by_time[(1, ts("2026-03-05 12:00"))].tx_count_7d == 5
    # 03-20: the newest activity (03-05) is older than the view's 7-day TTL.
    late = by_time.get((1, ts("2026-03-20")))
    assert late is None or pd.isna(late.tx_count_7d)
    # Card 2's activity (02-01) is a month old on 03-02: out of reach too.
    card2 = by_time.get((2, ts("2026-03-02")))
    assert card2 is None or pd.isna(card2.tx_count_7d)
    assert frame["card_age_days"].dropna().isin([100, 200]).all()
    assert not (frame["tx_count_7d"] == 30).any()  # the superseded version never shows
    # the on-demand feature is computed from each row's point-in-time features, and is
    # missing where they are
    for row in frame.itertuples(index=False):
        if pd.isna(row.amount_sum_7d):
            assert pd.isna(row.avg_amount_7d)
        else:
            assert row.avg_amount_7d == pytest.approx(row.amount_sum_7d / (row.tx_count_7d + 1))
    # an on-demand view with a request value takes it from each entity row (its amount); the
    # service also reads the labels' own view, whose rows a pipeline step publishes
    labels.to_parquet(worker.repo / "sources" / "chargeback" / "card-chargebacks.parquet")
    review = worker.call(
        "historical",
        service="chargeback__review_v1",
        entities=str(tmp_path / "labels.parquet"),
        out=str(tmp_path / "review.parquet"),
    )
    assert "amount_share_7d" in review["features"]
    joined = pd.read_parquet(tmp_path / "review.parquet").merge(
        frame[["card_id", "event_timestamp", "amount_sum_7d"]], on=["card_id", "event_timestamp"]
    )
    for row in joined.itertuples(index=False):
        if not pd.isna(row.amount_sum_7d):
            assert row.amount_share_7d == pytest.approx(row.amount / (row.amount_sum_7d + 1))


def test_materialize_keeps_the_newest_value_online(worker: FeastWorker) -> None:
    worker.call("materialize", views=["chargeback__card_activity", "chargeback__card_profile"])
    online = worker.call(
        "online", service="chargeback__chargeback_v1", entities={"card_id": [1, 2, 3]}
    )
    assert online["tx_count_7d"] == [5, 9, None]
    assert online["credit_limit"] == [1000.0, 2000.0, None]
    assert online["avg_amount_7d"][:2] == pytest.approx(
        [
            s / (n + 1)
            for s, n in zip(online["amount_sum_7d"][:2], online["tx_count_7d"][:2], strict=True)
        ]
    )
    assert online["avg_amount_7d"][2] is None  # no activity online for card 3
