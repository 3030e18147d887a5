"""Organisation policies: each one's violating fixture fails with its id, file and line; the
example organisation passes them all; exceptions waive until they expire."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from compiler.frontend import load_platform
from compiler.policy.org import POLICY_CODES
from tests.conftest import CONFIGS
from tests.helpers import apply_edits, load_cases, run_cli

CASES = load_cases(Path(__file__).parent / "cases" / "org_policies.yaml")


def test_every_policy_has_a_violating_fixture():
    covered = {case["expect"].split("error[")[1][:4] for case in CASES}
    assert set(POLICY_CODES.values()) - {"G113"} <= covered


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_violation_is_reported_with_id_file_and_line(case, configs, monkeypatch, capsys):
    apply_edits(configs, case)
    code, lines, _ = run_cli(configs, ["validate", *case.get("overrides", [])], monkeypatch, capsys)
    assert code == 1
    errors = [line for line in lines if ": error[" in line]
    assert case["expect"] in errors, "\n".join(lines)
    expected = {case["expect"], *([case["also"]] if "also" in case else [])}
    assert set(errors) == expected, "\n".join(lines)


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_example_passes_every_policy(env):
    result = load_platform(CONFIGS, [f"env={env}"])
    assert result.ok
    assert not [d for d in result.diagnostics if d.code.startswith("G")]


def test_exception_waives_until_it_expires(configs):
    policies = configs / "policies.yaml"
    day_after = date(2027, 7, 1)
    result = load_platform(configs, today=date(2027, 6, 30))
    assert result.ok
    result = load_platform(configs, today=day_after)
    codes = sorted(d.code for d in result.diagnostics if d.is_error)
    assert codes == [
        "G100",
        "G100",
        "G103",
        "G103",
    ]  # recsys and search: expired, and violating again
    policies.write_text(policies.read_text().replace("2027-06-30", "2027-12-31"))
    assert load_platform(configs, today=day_after).ok


def test_an_exception_that_waives_nothing_is_a_warning(configs):
    policies = configs / "policies.yaml"
    policies.write_text(policies.read_text().replace("team: search", "team: fraud"))
    result = load_platform(configs, ["env=prod"])
    warnings = [d for d in result.diagnostics if d.code == "G113"]
    assert [w.message for w in warnings] == [
        "exception to 'max-gpus-per-team' for team 'fraud' waives nothing in prod"
    ]
    assert [d.code for d in result.diagnostics if d.is_error] == ["G103"]  # search lost its waiver
