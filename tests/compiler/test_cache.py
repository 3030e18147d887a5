"""The build cache keeps what is in use and prunes what has not been used for a month."""

from __future__ import annotations

import argparse
import os
import time

from compiler.cache import DAY, MAX_AGE_DAYS, BuildCache
from compiler.cli import build_options


def _age(cache: BuildCache, stage: str, key: str, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(cache._path(stage, key), (then, then))


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
    assert os.path.exists(cache._path("plan", "bb-old"))  # not pruned again the same day
    assert cache.prune_daily(now=time.time() + DAY + 1) == 1
    assert not os.path.exists(cache._path("plan", "bb-old"))


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
    assert os.path.exists(cache._path("teams", "aa-old"))
    assert not (tmp_path / ".cache" / ".pruned").exists()
