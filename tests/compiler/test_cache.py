"""The build cache keeps what is in use and prunes what has not been used for a month."""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

from compiler.cache import DATABASE, DAY, MAX_AGE_DAYS, BuildCache
from compiler.cli import build_options


def _database(cache: BuildCache) -> sqlite3.Connection:
    assert cache.folder is not None
    return sqlite3.connect(cache.folder / DATABASE, isolation_level=None)


def _age(cache: BuildCache, stage: str, key: str, days: float) -> None:
    then = time.time() - days * DAY
    with _database(cache) as db:
        db.execute("UPDATE entries SET used = ? WHERE stage = ? AND key = ?", (then, stage, key))


def _stored(cache: BuildCache, stage: str, key: str) -> bool:
    """Whether the entry is in the database (without reading it, which refreshes it)."""
    with _database(cache) as db:
        query = "SELECT 1 FROM entries WHERE stage = ? AND key = ?"
        return db.execute(query, (stage, key)).fetchone() is not None


def test_entries_unused_for_a_month_are_pruned_and_recent_ones_kept(tmp_path):
    cache = BuildCache(tmp_path / ".cache")
    for key in ("aa-old", "bb-recent", "cc-read"):
        cache.put("kfp", key, key.encode())
    _age(cache, "kfp", "aa-old", MAX_AGE_DAYS + 1)
    _age(cache, "kfp", "bb-recent", MAX_AGE_DAYS - 1)
    _age(cache, "kfp", "cc-read", MAX_AGE_DAYS - 1)
    assert cache.get("kfp", "cc-read") == b"cc-read"  # a hit makes it young again
    later = time.time() + 2 * DAY
    assert cache.prune(now=later) == 2
    assert cache.get("kfp", "aa-old") is None
    assert cache.get("kfp", "bb-recent") is None  # 29 days + 2 more without use
    assert cache.get("kfp", "cc-read") == b"cc-read"


def test_builds_prune_at_most_once_a_day(tmp_path):
    args = argparse.Namespace(build_dir=str(tmp_path), no_cache=False, jobs=1)
    cache = BuildCache(tmp_path / ".cache")
    cache.put("plan", "aa-old", b"x")
    _age(cache, "plan", "aa-old", MAX_AGE_DAYS + 1)
    assert build_options(args).cache.get("plan", "aa-old") is None  # pruned by the build
    cache.put("plan", "bb-old", b"y")
    _age(cache, "plan", "bb-old", MAX_AGE_DAYS + 1)
    build_options(args)
    assert _stored(cache, "plan", "bb-old")  # not pruned again the same day
    assert cache.prune_daily(now=time.time() + DAY + 1) == 1
    assert not _stored(cache, "plan", "bb-old")


def test_a_disabled_cache_stores_and_prunes_nothing(tmp_path):
    cache = BuildCache.for_build(tmp_path, enabled=False)
    cache.put("kfp", "aa", b"x")
    assert cache.get("kfp", "aa") is None
    assert cache.prune() == 0 and not (tmp_path / ".cache").exists()


def test_validate_does_not_walk_the_cache(tmp_path):
    from compiler.cli import cache_of

    cache = BuildCache(tmp_path / ".cache")
    cache.put("teams", "aa-old", b"x")
    _age(cache, "teams", "aa-old", MAX_AGE_DAYS + 1)
    cache_of(argparse.Namespace(build_dir=str(tmp_path), no_cache=False))
    assert _stored(cache, "teams", "aa-old")
    assert not (tmp_path / ".cache" / ".pruned").exists()


def test_entries_live_in_one_database_file(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / ".cache")
    for number in range(50):
        cache.put("kfp", f"{number:02x}-key", b"x" * number)
    assert cache.get("kfp", "31-key") == b"x" * 49
    assert cache.get("plan", "31-key") is None  # stages are separate
    assert cache.entries("kfp") == cache.entries() == 50 and cache.entries("plan") == 0
    cache.put("kfp", "31-key", b"new")
    assert BuildCache(tmp_path / ".cache").get("kfp", "31-key") == b"new"  # another process
    assert sorted(p.name for p in (tmp_path / ".cache").iterdir() if p.is_file())[0] == DATABASE
    assert not [p for p in (tmp_path / ".cache").iterdir() if p.is_dir()]


def test_a_forked_worker_uses_its_own_connection(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / ".cache")
    cache.put("kfp", "parent", b"p")
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            assert cache.get("kfp", "parent") == b"p"
            cache.put("kfp", "child", b"c")
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("kfp", "child") == b"c"  # the parent's connection still works
    cache.put("kfp", "after", b"a")
    assert BuildCache(tmp_path / ".cache").get("kfp", "after") == b"a"


def test_a_damaged_database_is_replaced_by_an_empty_one(tmp_path: Path) -> None:
    folder = tmp_path / ".cache"
    folder.mkdir()
    (folder / DATABASE).write_bytes(b"this is not a database" * 100)
    cache = BuildCache(folder)
    assert cache.get("kfp", "aa") is None
    cache.put("kfp", "aa", b"x")
    assert BuildCache(folder).get("kfp", "aa") == b"x"


def test_a_cache_that_cannot_be_created_only_costs_time(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    cache = BuildCache(tmp_path / "file" / ".cache")
    cache.put("kfp", "aa", b"x")
    assert cache.get("kfp", "aa") is None
    assert cache.misses == 1 and cache.prune() == 0


def test_pruning_removes_the_per_file_layout_of_earlier_versions(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / ".cache")
    cache.put("kfp", "aa", b"x")
    legacy = tmp_path / ".cache" / "kfp" / "aa"
    legacy.mkdir(parents=True)
    (legacy / "aa-entry").write_bytes(b"old")
    cache.prune()
    assert not (tmp_path / ".cache" / "kfp").exists()
    assert cache.get("kfp", "aa") == b"x"


def test_concurrent_processes_store_every_entry(tmp_path: Path) -> None:
    """Two builds sharing a cache (a watch and a plan in another terminal) both write."""
    children = []
    for writer in range(2):
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                cache = BuildCache(tmp_path / ".cache")
                for number in range(300):
                    cache.put("kfp", f"{writer}-{number}", os.urandom(2000))
            except BaseException:
                code = 1
            os._exit(code)
        children.append(child)
    for child in children:
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    cache = BuildCache(tmp_path / ".cache")
    assert cache.entries("kfp") == 600
    assert all(len(cache.get("kfp", f"1-{n}") or b"") == 2000 for n in range(300))


def test_json_values_are_kept_only_when_they_read_back_exactly(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / ".cache")
    calls: list[str] = []

    def compute(value: object) -> object:
        calls.append("computed")
        return value

    assert cache.json_value("s", "a", lambda: compute({"x": [1, 2.5, None]})) == {
        "x": [1, 2.5, None]
    }
    assert cache.json_value("s", "a", lambda: compute("not used")) == {"x": [1, 2.5, None]}
    assert cache.json_value("s", "none", lambda: compute(None)) is None  # a failure: not kept
    assert cache.json_value("s", "keys", lambda: compute({1: "a"})) == {1: "a"}  # reads back as "1"
    assert cache.json_value("s", "tuple", lambda: compute((1, 2))) == (1, 2)  # reads back a list
    assert cache.entries("s") == 1 and len(calls) == 4
    assert BuildCache(None).json_value("s", "a", lambda: compute(3)) == 3
