"""The security baseline: each check's violating fixture fails with its id, spec object, file
and line; the example organisation passes every check in every environment."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from compiler.diagnostics import CODES
from compiler.policy.baseline import RULES
from compiler.policy.security import baseline_findings
from tests.conftest import CONFIGS
from tests.helpers import load_cases, run_fresh_python
from tests.policy.conftest import example, first_line
from tests.policy.patching import patch_pipelines, patch_plan

CASES = load_cases(Path(__file__).parent / "cases" / "baseline.yaml")
CODE = re.compile(r": (?:error|warning)\[(S\d{3})\]: ")


def _findings(name: str, case: dict | None = None) -> set[str]:
    ex = example(name)
    plan, pipelines = ex.plan, ex.pipelines
    if case is not None:
        plan, pipelines = patch_plan(plan, case), patch_pipelines(pipelines, case)
    return {first_line(d) for d in baseline_findings(ex.result, plan, pipelines)}


@cache
def _example_findings(name: str) -> frozenset[str]:
    return frozenset(_findings(name))


def test_every_check_has_a_violating_fixture():
    covered = {
        CODE.search(line).group(1)  # type: ignore[union-attr]
        for case in CASES
        for line in [case["expect"], *case.get("also", [])]
    }
    assert covered == set(RULES)


def test_every_check_is_a_registered_code_with_a_stable_name():
    assert len(RULES) >= 30
    assert len({rule.name for rule in RULES.values()}) == len(RULES)
    for code, rule in RULES.items():
        assert re.fullmatch(r"S[1-7]\d\d", code)
        assert CODES[code] == rule.title
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
        assert rule.help.endswith(".")


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_the_example_passes_the_baseline(env):
    assert _findings(env) == set()


def test_a_replicated_bucket_logs_in_the_replica_region_too():
    """dev with a replicated bucket: S3 delivers access logs only within a region, so the
    replica logs to an access-log bucket of its own region and the baseline is clean."""
    assert _findings("variant") == set()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_violation_is_reported_with_id_file_and_line(case):
    name = case.get("env", "prod")
    added = _findings(name, case) - _example_findings(name)
    assert added == {case["expect"], *case.get("also", [])}


def test_pipeline_checks_agree_in_parallel_and_from_the_cache(monkeypatch, tmp_path):
    """Pipeline facts parsed on two workers, then read back from the cache, give the same
    findings as one process; a changed pipeline is parsed again, never served stale."""
    from compiler.cache import BuildCache
    from compiler.policy import pods

    case = next(c for c in CASES if c["id"] == "pipeline-step-non-root")
    ex = example("prod")
    patched = patch_pipelines(ex.pipelines, case)
    monkeypatch.setattr(pods, "PARALLEL_MIN_PIPELINES", 2)
    cache = BuildCache(tmp_path / "cache")

    def findings(pipelines, **options):
        return {first_line(d) for d in baseline_findings(ex.result, ex.plan, pipelines, **options)}

    sequential = findings(patched)
    assert case["expect"] in sequential
    assert findings(patched, jobs=2) == sequential
    assert findings(patched, cache=cache, jobs=2) == sequential  # fills the cache
    assert cache.entries("policy") == len(list(ex.result.ir.pipelines())) == 7
    assert findings(patched, cache=cache) == sequential  # served by the cache
    assert findings(ex.pipelines, cache=cache) == _example_findings("prod")  # not stale


PARALLEL_FACTS = """
import json, os, sys
from compiler.build import compile_files
from compiler.frontend import load_platform
from compiler.policy import pods
from compiler.workers import fork_safe

result = load_platform(sys.argv[1], ["env=prod"])
files = compile_files(result).files
pods.PARALLEL_MIN_PIPELINES = 2
parent, seen = os.getpid(), set()
parse = pods._facts_in_worker
def with_pid(path):
    return (*parse(path), os.getpid())
pods._facts_in_worker = with_pid
original = pods.map_unordered
def spy(function, tasks, jobs, **options):
    for relpath, facts, pid in original(function, tasks, jobs, **options):
        seen.add(pid)
        yield relpath, facts
pods.map_unordered = spy
parallel = pods.pipeline_facts(result.ir, files, jobs=2)
pods.map_unordered = original
pods._facts_in_worker = parse
sequential = pods.pipeline_facts(result.ir, files, jobs=1)
print(json.dumps({"forked": fork_safe() and parent not in seen and len(seen) >= 1,
                  "same": parallel == sequential, "count": len(parallel)}))
"""


def test_pipeline_facts_parsed_on_workers_match_one_process():
    out = run_fresh_python(PARALLEL_FACTS, str(CONFIGS))
    assert out == {"forked": True, "same": True, "count": 7}
