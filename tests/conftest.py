"""Shared fixtures: a private copy of the example configs and a runner for the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.frontend import FrontendResult, load_platform

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """A copy of the example organisation that a test may edit freely."""
    target = tmp_path / "configs"
    shutil.copytree(CONFIGS, target)
    return target


@pytest.fixture(scope="session")
def example_ir() -> Callable[[str], FrontendResult]:
    cache: dict[str, FrontendResult] = {}

    def get(env: str = "local") -> FrontendResult:
        if env not in cache:
            cache[env] = load_platform(CONFIGS, [f"env={env}"])
            assert cache[env].ok, [d.render() for d in cache[env].diagnostics]
        return cache[env]

    return get


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print how many cases the fuzz suite ran (CI logs show it)."""
    import sys

    fuzz = sys.modules.get("tests.fuzz.test_fuzz_configs")
    if fuzz is not None and fuzz.COUNTER["cases"]:
        counts = fuzz.COUNTER
        terminalreporter.write_line(
            f"fuzz: {counts['cases']} cases ({counts['valid']} valid builds, "
            f"{counts['invalid']} rejected with located diagnostics)"
        )
