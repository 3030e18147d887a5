"""Baselines: a git revision's configs/, an earlier build, or none, with clear messages."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.plan.baseline import BaselineError, resolve_baseline
from tests.platform_iac.planning import CONFIGS


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A repository whose main branch holds the example configs, with one change on top."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(CONFIGS, root / "configs")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "configs")
    _git(root, "commit", "-q", "-m", "example")
    platform = root / "configs" / "platform.yaml"
    text = platform.read_text()
    platform.write_text(text.replace("    max_size: 8\n", "    max_size: 10\n", 1))
    return root


def test_default_baseline_is_the_merge_base_with_main(repo, tmp_path, capsys):
    build = tmp_path / "build"
    code = main(
        ["plan", "--env", "prod", "--configs", str(repo / "configs"), "--build-dir", str(build)]
    )
    assert code == 0, capsys.readouterr().err
    changes = json.loads((build / "prod" / "changes.json").read_text())["changes"]
    assert [(c["kind"], c["name"]) for c in changes] == [("update", "gpu-a10g")]
    (field,) = changes[0]["fields"]
    assert (field["path"], field["before"], field["after"]) == ("scalingConfig.maxSize", 8, 10)
    report = (build / "prod" / "report.md").read_text()
    assert "Baseline: `merge base with main` (" in report


def test_a_git_revision_by_name(repo):
    baseline = resolve_baseline("main", repo / "configs", ["env=prod"])
    assert baseline.plan is not None and baseline.ir is not None
    assert baseline.label.startswith("`main` (")
    assert baseline.ir.node_pools["gpu-a10g"].max_size == 8


def test_outside_git_the_plan_has_an_empty_baseline_and_says_why(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    baseline = resolve_baseline(None, configs, ["env=prod"])
    assert baseline.plan is None
    assert "is not in a git repository" in baseline.note and "--base DIR" in baseline.note


def test_a_repository_without_main(tmp_path):
    _git(tmp_path, "init", "-q", "-b", "trunk")
    (tmp_path / "configs").mkdir()
    baseline = resolve_baseline(None, tmp_path / "configs", [])
    assert baseline.plan is None and "no `main` or `origin/main` branch" in baseline.note


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("no-such-branch", "--base 'no-such-branch' is neither a folder nor a git revision"),
        (".", "has no plan.json"),
    ],
)
def test_unusable_baselines_are_errors(repo, monkeypatch, capsys, base, message):
    monkeypatch.chdir(repo)
    code = main(["plan", "--env", "prod", "--configs", "configs", "--base", base, "--no-color"])
    err = capsys.readouterr().err
    assert code == 2
    assert "<command line>:1:1: error[P100]: " in err and message in err


def test_explicit_ref_outside_git(tmp_path):
    with pytest.raises(BaselineError) as caught:
        resolve_baseline("main", tmp_path, [])
    assert caught.value.diagnostic.code == "P100"
