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
from tests.helpers import load_cases
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
        assert re.fullmatch(r"S[1-6]\d\d", code)
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
