"""Every environment is checked: cases/every_environment.yaml, and `--env all` usage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler.config_layout import environments
from compiler.frontend import config_files, load_environments
from tests.conftest import CONFIGS
from tests.helpers import apply_edits, load_cases, run_cli

CASES = load_cases(Path(__file__).parent / "cases" / "every_environment.yaml")
SECONDS = re.compile(r"in \d+\.\d+s$")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_every_environment_is_checked(case, configs, tmp_path, monkeypatch, capsys):
    apply_edits(configs, case)
    argv = [*case["argv"], *(["--build-dir", str(tmp_path / "build")])]
    code, err, out = run_cli(configs, argv, monkeypatch, capsys)
    lines = [SECONDS.sub("in <seconds>", line) for line in [*err, *out.splitlines()]]
    assert code == case["code"], "\n".join(lines)
    for expected in case["expect"]:
        assert lines.count(expected) == 1, "\n".join(lines)
    for text in case.get("absent", []):
        assert not any(line.startswith(text) for line in lines), "\n".join(lines)
    assert "Traceback" not in "\n".join(lines)
    if case["argv"][0] != "validate" or code:
        assert not (tmp_path / "build" / "prod").exists()  # nothing half-written


def test_all_and_an_env_override_is_a_usage_error(configs, monkeypatch, capsys):
    code, err, _ = run_cli(configs, ["validate", "--env", "all", "env=prod"], monkeypatch, capsys)
    assert code == 2 and "give the environment once" in "\n".join(err)


def test_the_environments_are_the_overlays_and_every_yaml_file_is_listed():
    assert environments(CONFIGS) == ["dev", "local", "prod"]
    listed = [p.relative_to(CONFIGS).as_posix() for p in config_files(CONFIGS)]
    assert "env/dev.yaml" in listed and "teams/recsys/serving.yaml" in listed
    assert listed == sorted(listed)


def test_team_files_are_validated_once_for_the_environments_that_do_not_change_them(
    configs, tmp_path
):
    from compiler.cache import BuildCache

    cache = BuildCache(tmp_path / "cache")
    outcome = load_environments(configs, ["dev", "local", "prod"], cache=cache)
    assert outcome.ok
    # every team once for dev and local (no team overlay); forecast, fraud, recsys and search
    # again for prod (it overlays those four): 9 validated specs stored, dev's reused by local
    assert cache.entries("teams") == 9


def test_without_a_cache_folder_too(configs, monkeypatch):
    from compiler import compose

    validated: list[str] = []
    clean_team = compose._clean_team

    def counting(task):  # type: ignore[no-untyped-def]
        validated.append(task[0])
        return clean_team(task)

    monkeypatch.setattr(compose, "_clean_team", counting)
    assert load_environments(configs, ["dev", "local", "prod"]).ok
    # dev validates every team; local reuses them; prod's overlay changes all but chargeback
    overlaid = ["forecast", "fraud", "recsys", "search"]
    assert sorted(validated) == sorted(["chargeback", *overlaid, *overlaid])
