"""The pull-request workflow runs make targets and finds its comment by the report's marker."""

from __future__ import annotations

from pathlib import Path

import yaml

from compiler.plan.report import MARKER

REPO = Path(__file__).resolve().parents[2]


def test_pr_workflow_uses_make_targets_and_the_report_marker():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "pr.yml").read_text())
    steps = workflow["jobs"]["plan"]["steps"]
    commands = [s["run"] for s in steps if "run" in s]
    assert all(c.lstrip().startswith(("make ", "set -o pipefail")) for c in commands)
    assert "make validate" in commands  # every environment
    (plan,) = [c for c in commands if "make -s plan" in c]
    assert "BASE=origin/${{ github.base_ref }}" in plan and "> diagnostics.json" in plan
    assert "ENV=changed" in plan  # every environment the change reaches
    (comment,) = [s for s in steps if s.get("uses", "").startswith("actions/github-script")]
    assert f"'{MARKER}'" in comment["with"]["script"]
    assert comment["env"]["REPORT"] == "build/report.md"  # one comment, a section per env
    assert workflow["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "security-events": "write",  # upload-sarif
    }
    (sarif,) = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload")]
    assert sarif["with"]["sarif_file"] == "mlplat.sarif"
    assert any(
        "make -s policies ENV=changed" in c and "--format sarif" in c and "BASE=" in c
        for c in commands
    )
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "diagnostics.json" in upload["with"]["path"] and upload["if"] == "always()"
    assert "build/report.md" in upload["with"]["path"]


def test_make_plan_passes_base_and_arguments():
    makefile = (REPO / "Makefile").read_text()
    assert "\n\t$(MLPLAT) plan --env $(ENV) $(if $(BASE),--base $(BASE)) $(PLAN_ARGS)\n" in makefile
