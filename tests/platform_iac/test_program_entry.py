"""`platform_iac/__main__.py` (what `pulumi up` runs) builds the same platform as the plan,
from the compiled IR, and refuses an IR of another Pulumi project."""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi
import pytest

from compiler.plan.mocks import run_program
from tests.platform_iac.planning import ir_for

MAIN = Path(__file__).resolve().parents[2] / "platform_iac" / "__main__.py"


def test_the_pulumi_entry_point_builds_what_the_plan_shows(prod, tmp_path, monkeypatch):
    ir = ir_for("prod")
    (tmp_path / "ir.json").write_text(ir.canonical_json())
    monkeypatch.setenv("MLPLAT_IR", str(tmp_path / "ir.json"))
    entry = run_program(ir, program=lambda _ir: runpy.run_path(str(MAIN)))
    assert entry.to_json() == prod.to_json()


def test_an_ir_of_another_project_is_refused(tmp_path, monkeypatch):
    ir = ir_for("prod")
    other = ir.model_copy(
        update={
            "platform": ir.platform.model_copy(
                update={
                    "pulumi": ir.platform.pulumi.model_copy(update={"project": "other-platform"})
                }
            )
        }
    )
    (tmp_path / "ir.json").write_text(other.canonical_json())
    monkeypatch.setenv("MLPLAT_IR", str(tmp_path / "ir.json"))
    with pytest.raises(pulumi.RunError, match="belongs to Pulumi project 'other-platform'"):
        run_program(ir, program=lambda _ir: runpy.run_path(str(MAIN)))


def test_a_missing_ir_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPLAT_IR", str(tmp_path / "missing.json"))
    with pytest.raises(pulumi.RunError, match="run `mlplat compile --env prod` first"):
        run_program(ir_for("prod"), program=lambda _ir: runpy.run_path(str(MAIN)))
