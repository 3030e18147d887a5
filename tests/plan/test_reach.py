"""Which environments a change reaches, and the one review of all of them."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from compiler.cli import main
from compiler.plan.combined import EnvironmentPlan, combine_reports
from compiler.plan.report import MARKER
from compiler.reach import reached
from tests.conftest import CONFIGS

ENVS = ["dev", "local", "prod"]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        pytest.param(["configs/env/dev.yaml"], {"dev": "configs/env/dev.yaml"}, id="an-overlay"),
        pytest.param(
            ["configs/env/dev.yaml", "configs/env/prod.yaml"],
            {"dev": "configs/env/dev.yaml", "prod": "configs/env/prod.yaml"},
            id="two-overlays",
        ),
        pytest.param(
            ["configs/platform.yaml"], dict.fromkeys(ENVS, "configs/platform.yaml"), id="platform"
        ),
        pytest.param(
            ["configs/policies.yaml"], dict.fromkeys(ENVS, "configs/policies.yaml"), id="policies"
        ),
        pytest.param(
            ["configs/teams/recsys/serving.yaml"],
            dict.fromkeys(ENVS, "configs/teams/recsys/serving.yaml"),
            id="a-team-file",
        ),
        pytest.param(
            ["components/fraud/train.py"],
            dict.fromkeys(ENVS, "components/fraud/train.py"),
            id="step-code",
        ),
        pytest.param(
            ["platform_iac/cluster.py"],
            dict.fromkeys(ENVS, "platform_iac/cluster.py"),
            id="program",
        ),
        pytest.param(
            ["configs/env/dev.yaml", "configs/teams/fraud.yaml"],
            {
                "dev": "configs/env/dev.yaml",
                "local": "configs/teams/fraud.yaml",
                "prod": "configs/teams/fraud.yaml",
            },
            id="overlay-and-team",
        ),
        pytest.param(["README.md", "tests/plan/test_diff.py"], {}, id="docs-and-tests"),
        pytest.param(["configs/env/staging.yaml"], {}, id="a-removed-overlay"),
    ],
)
def test_what_a_change_reaches(changed, expected):
    assert reached(changed, "configs", ENVS) == expected


def test_a_report_per_environment_in_one_comment_under_the_limit():
    big = MARKER + "\n## mlplat plan: `prod`\n\nBaseline: x\n\n### Destructive changes\n\nkeep\n"
    big += "### Details\n\n" + "x" * 5000 + "\n"
    plans = [
        EnvironmentPlan("dev", "`configs/env/dev.yaml` changed", big),
        EnvironmentPlan("prod", "`configs/platform.yaml` changed", None),
    ]
    text = combine_reports(plans, {"local": "nothing this change reaches"}, limit=3000)
    lines = text.splitlines()
    assert lines[0] == MARKER and text.count(MARKER) == 1
    assert lines[3] == (
        "Planned 2 environments: `dev` (`configs/env/dev.yaml` changed), `prod` "
        "(`configs/platform.yaml` changed). Not planned: `local` (nothing this change reaches)."
    )
    assert len(text) <= 3000
    assert "### Destructive changes" in text and "xxxxx" not in text  # folded, first kept
    assert "`build/dev/report.md`" in text
    assert "## mlplat plan: `prod`: failed" in text


def _git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.email=ci@acme.example", "-c", "user.name=ci", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_plan_and_check_of_the_changed_environments(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(CONFIGS, repo / "configs")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "change")
    overlay = repo / "configs" / "env" / "dev.yaml"
    overlay.write_text(overlay.read_text().replace("max_size: 6", "max_size: 7"))
    monkeypatch.chdir(repo)
    build = tmp_path / "build"
    code = main(
        [
            "plan",
            "--env",
            "changed",
            "--base",
            "main",
            "--build-dir",
            str(build),
            "--format",
            "json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out) == {"diagnostics": []}
    report = (build / "report.md").read_text()
    assert report.splitlines()[0] == MARKER
    assert (
        "Planned 1 environment: `dev` (`configs/env/dev.yaml` changed). Not planned: "
        "`local` (nothing this change reaches), `prod` (nothing this change reaches)." in report
    )
    assert report.count("## mlplat plan: `dev`") == 1 and "`prod` (`acme-prod`" not in report
    assert sorted(p.name for p in build.iterdir() if not p.name.startswith(".")) == [
        "dev",
        "report.md",
    ]
    code = main(
        [
            "check",
            "--env",
            "changed",
            "--base",
            "main",
            "--build-dir",
            str(build),
            "--format",
            "sarif",
            "--out",
            str(tmp_path / "m.sarif"),
        ]
    )
    assert code == 0
    runs = json.loads((tmp_path / "m.sarif").read_text())["runs"]
    assert [r["automationDetails"]["id"] for r in runs] == ["mlplat-check/dev/"]
