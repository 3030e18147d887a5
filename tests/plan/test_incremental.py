"""A plan in a fresh process, from the cache and build folder of the previous plan, writes
exactly the files a cold plan (no cache, no previous build) writes, after each kind of change
a pull request makes: an edited, an added and a deleted team, a changed platform.yaml, a
changed environment overlay and a changed step function. Nothing is served stale.

Each plan runs in a process of its own, as in CI: module-level memos (code fingerprints,
file digests) must not hide a change either.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.generate_org import generate
from compiler.cache import BuildCache
from tests.conftest import REPO


def _plan(root: Path, build: Path, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "compiler.cli", "plan", "--env", "local", "--configs", "configs",
         "--build-dir", str(build), "--no-color", *extra],
        cwd=root, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), "CI": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, (path, old)
    path.write_text(text.replace(old, new, 1))


def _edit_team(root: Path) -> None:
    _replace(next(iter(sorted((root / "configs/teams").glob("*.yaml")))), "default: ", "default: 1")


def _add_team(root: Path) -> None:
    (root / "configs/teams/newcomers.yaml").write_text(
        "owners: [ana.lima@acme.example]\ncost_center: CC-2001\nquotas: {cpu: '4', memory: 8Gi}\n"
    )


def _delete_team(root: Path) -> None:
    """The last team that serves nobody else's model and shares no view (the generator's
    teams are independent of each other)."""
    sorted((root / "configs/teams").glob("*.yaml"))[-1].unlink()


def _platform(root: Path) -> None:
    _replace(root / "configs/platform.yaml", "region: eu-west-1", "region: eu-central-1")


def _overlay(root: Path) -> None:
    _replace(root / "configs/env/local.yaml", "max_size: 1000", "max_size: 998")


def _step_function(root: Path) -> None:
    first = sorted(p for p in (root / "components").iterdir() if p.is_dir())[0]
    _replace(first / "data.py", "    import numpy as np\n", "    import numpy as np  # edited\n")


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    # the change, and the plan fragments it makes anew: only what it reaches is planned again
    "edited-team": (_edit_team, "one team"),
    "added-team": (_add_team, "one team"),
    "deleted-team": (_delete_team, "none"),
    "platform-yaml": (_platform, "every team and the platform"),
    "env-overlay": (_overlay, "every team and the platform"),
    "step-function": (_step_function, "none"),  # its pipeline is compiled again
}


@pytest.mark.e2e
def test_a_fresh_plan_from_the_previous_build_equals_a_cold_plan_after_each_change(tmp_path):
    root = tmp_path / "org"
    generate(root / "configs", teams=10, seed=7)
    build = root / "build"
    _plan(root, build)  # the base: its cache and its build folder
    cache = BuildCache(build / ".cache")
    for name, (change, planned) in CHANGES.items():
        before = set(_files(build / "local"))
        fragments, pipelines = cache.entries("plan"), cache.entries("kfp")
        change(root)
        _plan(root, build)
        teams = len(list((root / "configs/teams").glob("*.yaml")))
        made = {"none": 0, "one team": 1, "every team and the platform": teams + 1}[planned]
        assert (name, cache.entries("plan") - fragments) == (name, made)
        if name == "step-function":
            assert cache.entries("kfp") > pipelines
        cold = tmp_path / f"cold-{name}"
        _plan(root, cold, "--no-cache")
        incremental, fresh = _files(build / "local"), _files(cold / "local")
        assert incremental == fresh, name
        _match, mismatch, errors = filecmp.cmpfiles(
            build / "local", cold / "local", fresh, shallow=False
        )
        assert (name, mismatch, errors) == (name, [], [])
        if name in ("added-team", "deleted-team"):
            assert set(fresh) != before  # the team's own files came or went
        shutil.rmtree(cold)
