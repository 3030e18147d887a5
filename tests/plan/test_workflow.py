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


def _prefix(key: str) -> str:
    return key.rsplit("-${{", 1)[0]


def test_pull_requests_restore_the_build_cache_that_main_saves_for_their_base():
    """The fresh-process plan of a pull request starts from the build of its base commit."""
    pr = yaml.safe_load((REPO / ".github" / "workflows" / "pr.yml").read_text())
    steps = pr["jobs"]["plan"]["steps"]
    (restore,) = [s for s in steps if s.get("uses", "").startswith("actions/cache/restore")]
    first_build = next(i for i, s in enumerate(steps) if "make validate" in s.get("run", ""))
    assert steps.index(restore) < first_build
    assert restore["with"]["path"] == "build"
    assert restore["with"]["key"].endswith("-${{ github.event.pull_request.base.sha }}")
    main = yaml.safe_load((REPO / ".github" / "workflows" / "main.yml").read_text())
    assert main[True] == {"push": {"branches": ["main"]}}  # YAML 1.1 reads `on:` as True
    main_steps = main["jobs"]["build-cache"]["steps"]
    (save,) = [s for s in main_steps if s.get("uses", "").startswith("actions/cache/save")]
    assert save["with"]["path"] == "build"
    assert save["with"]["key"].endswith("-${{ github.sha }}")
    assert _prefix(save["with"]["key"]) == _prefix(restore["with"]["key"])
    assert restore["with"]["restore-keys"].strip() == _prefix(save["with"]["key"]) + "-"
    runs = "\n".join(s.get("run", "") for s in main_steps)
    assert "make -s plan ENV=all" in runs and "make validate" in runs
