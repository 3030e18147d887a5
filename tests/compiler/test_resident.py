"""A resident process (`mlplat watch`) reuses objects between builds, never stale results.

Each case builds the example in one process with a memory-keeping cache, edits the configs,
builds again, and compares with a fresh build of the edited configs: the IR, every
diagnostic (code, file, line, message) and the plan must be the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.build import BuildOptions
from compiler.cache import BuildCache
from compiler.frontend import FrontendResult, load_platform


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def rendered(result: FrontendResult) -> list[str]:
    return [d.render() for d in result.diagnostics]


def resident_build(configs: Path, overrides: list[str], cache: BuildCache) -> FrontendResult:
    cache.begin_build()
    result = load_platform(configs, overrides, cache=cache)
    cache.end_build()
    return result


def assert_same_as_fresh(configs: Path, overrides: list[str], cache: BuildCache) -> FrontendResult:
    resident = resident_build(configs, overrides, cache)
    fresh = load_platform(configs, overrides)
    assert rendered(resident) == rendered(fresh)
    assert (resident.ir is None) == (fresh.ir is None)
    if fresh.ir is not None:
        assert resident.ir is not None
        assert resident.ir.canonical_json(cache) == fresh.ir.canonical_json()
    return resident


SERVE_FRAUD_MODEL = [  # recsys serves fraud's model: a dependent in another team
    ("teams/recsys/serving.yaml", "    model: recsys-ranker", "    model: fraud-classifier"),
    ("teams/recsys/serving.yaml", "    runtime: triton", "    runtime: sklearn"),
]


@pytest.mark.parametrize(
    "setup, change, expect",
    [
        ([], ("teams/fraud.yaml", '  cpu: "24"', '  cpu: "20"'), None),
        (
            [],
            (
                "env/prod.yaml",
                "fraud-scorer: {min_replicas: 2, max_replicas: 6}",
                "fraud-scorer: {min_replicas: 3, max_replicas: 6}",
            ),
            None,
        ),
        (
            SERVE_FRAUD_MODEL,
            (
                "teams/fraud.yaml",
                "    stage: staging\n",
                "    stage: staging\n    registry_name: fraud-v2\n",
            ),
            None,
        ),
        (
            SERVE_FRAUD_MODEL,
            ("teams/fraud.yaml", "framework: sklearn", "framework: xgboost"),
            "E100",
        ),
        ([], ("teams/search.yaml", "model: search-ranker", "model: search-rankr"), "E202"),
        # lines move in the overlay: diagnostics located there must move with them
        ([], ("env/prod.yaml", "node_pools:", "# moved\n\nnode_pools:"), None),
    ],
    ids=["team-file", "overlay", "dependent-model", "dependent-error", "error", "positions"],
)
def test_a_resident_rebuild_equals_a_fresh_build(configs, tmp_path, setup, change, expect):
    for path, old, new in setup:
        edit(configs / path, old, new)
    cache = BuildCache.for_build(tmp_path / "build")
    cache.keep_in_memory()
    overrides = ["env=prod"]
    first = assert_same_as_fresh(configs, overrides, cache)
    assert first.ok
    edit(configs / change[0], change[1], change[2])
    second = assert_same_as_fresh(configs, overrides, cache)
    codes = {d.code for d in second.diagnostics if d.is_error}
    assert codes == ({expect} if expect else set())
    if expect == "E100":  # both endpoints that serve the model, in two teams
        files = sorted(d.span.file for d in second.diagnostics if d.code == "E100")
        assert [Path(f).name for f in files] == ["fraud.yaml", "serving.yaml"]
    edit(configs / change[0], change[2], change[1])  # and back
    assert assert_same_as_fresh(configs, overrides, cache).ok


def test_unchanged_teams_are_reused_and_changed_ones_are_not(configs, tmp_path):
    cache = BuildCache.for_build(tmp_path / "build")
    cache.keep_in_memory()
    first = resident_build(configs, ["env=prod"], cache)
    edit(configs / "teams/fraud.yaml", '  cpu: "24"', '  cpu: "20"')
    second = resident_build(configs, ["env=prod"], cache)
    assert first.ir is not None and second.ir is not None
    assert second.ir.teams["search"] is first.ir.teams["search"]
    assert second.ir.teams["recsys"] is first.ir.teams["recsys"]
    assert second.ir.teams["fraud"] is not first.ir.teams["fraud"]
    assert second.ir.teams["fraud"].quotas.cpu == 20000


@pytest.mark.parametrize("against", ["nothing", "the first build"])
def test_a_resident_plan_equals_a_fresh_plan(configs, tmp_path, against):
    from compiler.plan.outputs import plan_files
    from compiler.plan.report import Baseline

    cache = BuildCache.for_build(tmp_path / "build")
    cache.keep_in_memory()
    options = BuildOptions(cache=cache, jobs=1)
    first = resident_build(configs, ["env=prod"], cache)
    before = plan_files(first, Baseline(label="none", plan=None, ir=None), options=options)
    baseline = (
        Baseline(label="none", plan=None, ir=None)
        if against == "nothing"
        else Baseline(label="first", plan=before.plan, ir=first.ir)
    )
    plan_files(first, baseline, options=options)  # what the watch remembers from
    for cpu in ("20", "22"):  # two rebuilds: the second reuses what the first remembered
        old = '  cpu: "24"' if cpu == "20" else '  cpu: "20"'
        edit(configs / "teams/fraud.yaml", old, f'  cpu: "{cpu}"')
        warm = resident_build(configs, ["env=prod"], cache)
        resident = plan_files(warm, baseline, options=options).files
        fresh = plan_files(load_platform(configs, ["env=prod"]), baseline).files
        assert resident.keys() == fresh.keys()
        assert [k for k in fresh if resident[k] != fresh[k]] == []
        changed = sorted(k for k in fresh if before.files.get(k) != fresh[k])
        assert "manifests/team-fraud.resourcequota.team-quota.yaml" in changed, changed
    if against == "the first build":  # the compare path ran: updated and unchanged ones
        counts = json.loads(resident["changes.json"])
        assert counts["counts"]["update"] >= 1 and counts["unchanged"] > 100, counts["counts"]
