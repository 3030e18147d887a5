"""The cached and parallel plan is byte-identical to one sequential run of the program,
and a change to anything a fragment depends on invalidates it (never a stale result)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.generate_org import generate
from compiler.cache import BuildCache
from compiler.diagnostics import Diagnostic
from compiler.frontend import load_platform
from compiler.ir_features import view_sources
from compiler.plan import sharded
from compiler.plan.model import Plan
from compiler.plan.sharded import plan_or_failure, plan_program, shards
from tests.conftest import CONFIGS
from tests.helpers import run_fresh_python

# Runs in a fresh interpreter: forking is only used while the process has one thread, and
# earlier tests in this process may have started threads.
CHECK = """
import json, sys, threading
from pathlib import Path
from compiler.cache import BuildCache
from compiler.frontend import load_platform
from compiler.plan.mocks import run_program
from compiler.plan.sharded import plan_program
import platform_iac.program
ir = load_platform(sys.argv[2], sys.argv[3:]).ir
assert threading.active_count() == 1
sharded = plan_program(ir, BuildCache(Path(sys.argv[1])), jobs=2)
cached = plan_program(ir, BuildCache(Path(sys.argv[1])), jobs=2)
sequential = run_program(ir)
print(json.dumps({"sharded": sharded.to_json() == sequential.to_json(),
                  "cached": cached.to_json() == sequential.to_json(),
                  "resources": len(sequential.resources)}))
"""


def _check(cache: Path, configs: Path, *overrides: str) -> dict[str, object]:
    return dict(run_fresh_python(CHECK, str(cache), str(configs), *overrides))


@pytest.mark.e2e
def test_sharded_and_cached_plans_equal_a_sequential_run(tmp_path):
    configs = generate(tmp_path / "configs", teams=10, seed=5, lifecycle=False)
    result = _check(tmp_path / "cache", configs)
    assert result["sharded"] and result["cached"] and result["resources"] > 250


@pytest.mark.e2e
def test_an_organisation_with_a_feature_store_is_sharded_and_cached(tmp_path):
    """Each team's feature store resources are its own fragment (tables, uploads, access to
    the views shared with it, Feast processes): with workers and a cache, the plan equals a
    sequential run."""
    configs = generate(tmp_path / "configs", teams=10, seed=5)
    result = _check(tmp_path / "cache", configs)
    assert result["sharded"] and result["cached"] and result["resources"] > 250


@pytest.mark.e2e
def test_example_organisation_sharded_equals_sequential(tmp_path):
    result = _check(tmp_path / "cache", CONFIGS, "env=prod")
    assert result == {"sharded": True, "cached": True, "resources": result["resources"]}


THREADS = """
import json, threading
from compiler.frontend import load_platform
from compiler.plan.mocks import run_program
from compiler.workers import fork_safe
ir = load_platform("configs", ["env=prod"]).ir
first = run_program(ir).to_json()
after_one = threading.active_count()
second = run_program(ir).to_json()
print(json.dumps({"threads": [after_one, threading.active_count()], "fork_safe": fork_safe(),
                  "same": first == second}))
"""


def test_a_run_of_the_program_leaves_no_threads_behind():
    """So a process that planned one shard itself (or `mlplat watch`) can still fork."""
    assert run_fresh_python(THREADS) == {"threads": [1, 1], "fork_safe": True, "same": True}


def test_shards_are_balanced_and_cover_every_team(example_ir):
    ir = example_ir("prod").ir
    groups = shards(ir, sorted(ir.teams), 2)
    assert sorted(t for g in groups for t in g) == sorted(ir.teams)
    assert len(groups) == 2
    assert shards(ir, [], 2) == [[]]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    "change",
    [
        ("platform.yaml", "organisation: acme", "organisation: acmex"),  # every name changes
        ("platform.yaml", "instance_types: [g4dn.xlarge]", "instance_types: [g4dn.2xlarge]"),
        ("teams/fraud.yaml", "    max_replicas: 3", "    max_replicas: 2"),
        (
            "teams/fraud.yaml",
            "{bucket: models, prefix: fraud/, access: write}",
            "{bucket: models, prefix: fraud/, access: read}",
        ),
        (
            "teams/fraud.yaml",
            "    framework: sklearn\n",
            "    framework: sklearn\n    registry_name: fraud.scorer-v2\n",
        ),
    ],
    ids=["organisation", "node-pool", "endpoint", "bucket-grant", "model-served-by-endpoint"],
)
def test_a_change_to_a_referenced_object_invalidates_its_dependents(configs, tmp_path, change):
    cache = BuildCache(tmp_path / "cache")
    before = load_platform(configs).ir
    plan_program(before, cache)  # warm the cache
    file, old, new = change
    edit(configs / file, old, new)
    after = load_platform(configs).ir
    cached = plan_program(after, cache)
    fresh = plan_program(after, None)
    assert cached.to_json() == fresh.to_json()
    assert cached.to_json() != plan_program(before, cache).to_json()


def test_a_resource_registered_twice_is_refused():
    ir = load_platform(CONFIGS).ir
    assert ir is not None
    resource = plan_program(ir).resources[0]
    expected = f"the program registers these resources twice: ['{resource.key}']"
    with pytest.raises(ValueError, match=re.escape(expected)):
        Plan.of(ir, [resource, resource])


def test_a_failing_program_becomes_one_p101_diagnostic(monkeypatch):
    ir = load_platform(CONFIGS).ir
    assert ir is not None

    def broken(*_args, **_kwargs):
        raise RuntimeError("node pool 'gpu' has no subnets")

    monkeypatch.setattr(sharded, "plan_program", broken)
    found = plan_or_failure(ir)
    assert isinstance(found, Diagnostic)
    assert found.render().splitlines()[0] == (
        "<command line>:1:1: error[P101]: the platform program failed for environment "
        "'local': RuntimeError: node pool 'gpu' has no subnets"
    )


def test_a_shard_travels_as_the_json_of_each_fragment(example_ir, monkeypatch):
    """What a worker sends back decodes to the resources of its run, team by team."""
    from compiler.plan.mocks import run_program

    ir = example_ir("prod").ir
    teams = sorted(ir.teams)[:2]
    monkeypatch.setitem(sharded.SHARED, "plan_ir", ir)
    monkeypatch.setitem(sharded.SHARED, "plan_feature_sources", view_sources(ir.teams))
    fragments = sharded._run_shard(teams)
    assert [team for team, _ in fragments] == [None, *teams]
    decoded = [r for _, data in fragments for r in sharded._resources(data)]
    run = run_program(sharded.with_teams(ir, teams))
    assert sorted(decoded, key=lambda r: r.key) == sorted(run.resources, key=lambda r: r.key)
    assert all(r.spec.team == team for team, data in fragments for r in sharded._resources(data))


PREFETCH = """
import json, sys
from pathlib import Path
from compiler.cache import BuildCache
from compiler.frontend import load_platform
from compiler.plan import sharded
from compiler.plan.mocks import run_program
ir = load_platform(sys.argv[2], []).ir
cache = BuildCache(Path(sys.argv[1]))
if sys.argv[3] == "cached":
    sharded.plan_program(ir, cache)  # the platform's fragment is cached now
    before = set(sys.modules)
    sharded.prefetch(ir, cache, jobs=2)
    print(json.dumps({"loaded": len(set(sys.modules) - before)}))
else:
    sharded.prefetch(ir, cache, jobs=2)
    before = set(sys.modules)
    run_program(sharded.with_teams(ir, sorted(ir.teams)))
    print(json.dumps({"loaded": len(set(sys.modules) - before)}))
"""


@pytest.mark.e2e
def test_prefetch_loads_what_the_workers_will_load_and_only_for_a_cold_platform(tmp_path):
    configs = generate(
        tmp_path / "configs", teams=sharded.PARALLEL_MIN_TEAMS, seed=3, lifecycle=False
    )
    cold = run_fresh_python(PREFETCH, str(tmp_path / "cold"), str(configs), "cold")
    assert cold == {"loaded": 0}  # a run of every team after it loads no module
    warm = run_fresh_python(PREFETCH, str(tmp_path / "warm"), str(configs), "cached")
    assert warm == {"loaded": 0}  # nothing run, nothing loaded
    not_loaded = PREFETCH.replace("sharded.plan_program(ir, cache)", "pass")
    unprepared = run_fresh_python(not_loaded, str(tmp_path / "x"), str(configs), "cached")
    assert unprepared["loaded"] > 100  # cold: prefetch itself loads them (the check sees it)


def test_prefetch_does_nothing_for_a_plan_that_runs_in_this_process(example_ir, monkeypatch):
    ran: list[object] = []
    monkeypatch.setattr(sharded, "warm_up", lambda *args: ran.append(args))
    ir = example_ir("prod").ir
    assert len(ir.teams) < sharded.PARALLEL_MIN_TEAMS
    sharded.prefetch(ir, None, jobs=2)
    many = {
        f"t{i}": team for i, team in enumerate(list(ir.teams.values()) * sharded.PARALLEL_MIN_TEAMS)
    }
    big = ir.model_copy(update={"teams": many})
    sharded.prefetch(big, None, jobs=1)
    assert ran == []
    sharded.prefetch(big, None, jobs=2)  # with a feature store too: it is sharded
    assert len(ran) == 1


READER = (
    "owners: [alice.martin@acme.example]\ncost_center: CC-1043\nquotas: {cpu: '2', memory: 4Gi}\n"
    "feature_services:\n  card-facts:\n    features:\n      - {view: card-profile, team: chargeback}\n"
)


def _reader_policy(plan: Plan) -> str:
    (policy,) = [r for r in plan.resources if r.name == "reader-workload-features"]
    return str(policy.inputs["policy"])


def test_a_team_reading_a_shared_view_is_planned_again_when_the_views_source_changes(
    configs, tmp_path
):
    """`reader` reads chargeback's shared `card-profile`, and its policy names the view's
    source. Pointing the view at another source changes only chargeback's spec, yet reader's
    cached fragment is not reused."""
    edit(configs / "teams/chargeback.yaml", "shared_with: [fraud]", "shared_with: [fraud, reader]")
    (configs / "teams/reader.yaml").write_text(READER)
    cache = BuildCache(tmp_path / "cache")
    before = load_platform(configs).ir
    assert before is not None
    plan_program(before, cache)  # warm the cache
    written = "{written_by: {pipeline: train-chargeback-model, step: make-labels, output: labels}}"
    edit(
        configs / "teams/chargeback.yaml",
        "  card-chargebacks: {written_by",
        f"  profile-rows: {written}\n  card-chargebacks: {{written_by",
    )
    edit(
        configs / "teams/chargeback.yaml",
        "    source: card-profiles\n",
        "    source: profile-rows\n",
    )
    after = load_platform(configs).ir
    assert after is not None
    assert after.teams["reader"] == before.teams["reader"]  # its own spec did not change
    cached = plan_program(after, cache)
    assert cached.to_json() == plan_program(after, None).to_json()
    assert "chargeback/profile-rows.parquet" in _reader_policy(cached)
    assert "profile-rows" not in _reader_policy(plan_program(before, cache))


def test_a_team_is_planned_again_when_a_source_file_it_uploads_changes(tmp_path, monkeypatch):
    """The upload's plan shows the file's SHA-256: new bytes at the same path are a new key."""
    import compiler.cache

    ir = load_platform(CONFIGS, ["env=prod"]).ir
    assert ir is not None
    paths = [s.path for s in ir.teams["chargeback"].sources.values() if s.path]
    for path in paths:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes((compiler.cache.REPO / path).read_bytes())
    monkeypatch.setattr(compiler.cache, "REPO", tmp_path)
    pkey = sharded.platform_key(ir)
    first = sharded.team_key(ir, "chargeback", pkey)
    assert sharded.team_key(ir, "chargeback", pkey) == first
    assert sharded.team_key(ir, "fraud", pkey) == sharded.team_key(ir, "fraud", pkey)
    with (tmp_path / paths[0]).open("ab") as file:
        file.write(b"\0")
    assert sharded.team_key(ir, "chargeback", pkey) != first
