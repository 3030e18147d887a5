"""Validated team specs come from the cache only while nothing they depend on changed."""

from __future__ import annotations

import pytest

from compiler.cache import BuildCache
from compiler.frontend import load_platform


def team_count(configs):
    return len(list((configs / "teams").iterdir()))


def edit(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("env", ["local", "prod"])
def test_cached_specs_give_the_same_ir(configs, tmp_path, env):
    cache = BuildCache(tmp_path / "cache")
    cold = load_platform(configs, [f"env={env}"], cache=cache)
    assert cache.misses_of("teams") == team_count(configs) and cache.hits_of("teams") == 0
    warm = load_platform(configs, [f"env={env}"], cache=cache)
    assert cache.hits_of("teams") == team_count(configs)
    assert (
        warm.ir.canonical_json()
        == cold.ir.canonical_json()
        == load_platform(configs, [f"env={env}"]).ir.canonical_json()
    )
    assert not warm.composed.teams  # nothing was parsed again


@pytest.mark.parametrize(
    "change, overrides, check",
    [
        (
            ("teams/fraud.yaml", '  cpu: "24"', '  cpu: "20"'),
            [],
            lambda ir: ir.teams["fraud"].quotas.cpu == 20000,
        ),
        (
            (
                "env/prod.yaml",
                "fraud-scorer: {min_replicas: 2, max_replicas: 6}",
                "fraud-scorer: {min_replicas: 3, max_replicas: 6}",
            ),
            ["env=prod"],
            lambda ir: ir.teams["fraud"].endpoints["fraud-scorer"].min_replicas == 3,
        ),
        (None, ["teams.search.quotas.cpu=40"], lambda ir: ir.teams["search"].quotas.cpu == 40000),
    ],
    ids=["team-file", "overlay", "override"],
)
def test_changes_reach_the_team(configs, tmp_path, change, overrides, check):
    cache = BuildCache(tmp_path / "cache")
    env = [o for o in overrides if o.startswith("env=")]
    load_platform(configs, env, cache=cache)
    if change:
        edit(configs / change[0], change[1], change[2])
    result = load_platform(configs, overrides, cache=cache)
    assert result.ok and check(result.ir)
    assert cache.hits_of("teams") == team_count(configs) - 1  # the other teams were reused


def test_teams_with_problems_are_never_cached(configs, tmp_path):
    cache = BuildCache(tmp_path / "cache")
    edit(configs / "teams" / "search.yaml", "cost_center: CC-3300", "cost_centre: CC-3300")
    for _ in range(2):
        result = load_platform(configs, cache=cache)
        assert sorted(d.code for d in result.diagnostics if d.is_error) == ["E101", "E102"]
    assert (
        cache.hits_of("teams") == team_count(configs) - 1
    )  # the valid teams, on the second run only
