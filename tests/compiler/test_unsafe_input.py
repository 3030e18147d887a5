"""Table-driven: each attempt in cases/unsafe_input.yaml to read outside the repository while a
pull request is planned gives exactly the diagnostic listed there, exits 1, leaves the previous
build untouched and shows nothing of what it tried to read, in any output."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from compiler.cli import main
from compiler.frontend import load_platform
from tests.helpers import apply_edits, load_cases

CASES = load_cases(Path(__file__).parent / "cases" / "unsafe_input.yaml")


def _fill(value: Any, places: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, text in places.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, list):
        return [_fill(v, places) for v in value]
    if isinstance(value, dict):
        return {_fill(k, places): _fill(v, places) for k, v in value.items()}
    return value


def test_every_loading_code_has_a_case() -> None:
    codes = {case["expect"].split("error[")[1][:4] for case in CASES}
    assert codes >= {"E014", "E015", "E016"}
    assert len({case["id"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_unsafe_input_is_refused_and_leaks_nothing(
    case: dict[str, Any],
    configs: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = configs.parent
    outside = tmp_path_factory.mktemp("outside")  # not below the repository
    places = {
        "outside": str(outside),
        "outside_rel": os.path.relpath(outside, configs),
        "repo": str(repo),
    }
    case = _fill(case, places)
    for name, text in case.get("outside", {}).items():
        (outside / name).parent.mkdir(parents=True, exist_ok=True)
        (outside / name).write_text(text, encoding="utf-8")
    apply_edits(configs, case)
    for link, target in case.get("symlink", {}).items():
        (repo / link).parent.mkdir(parents=True, exist_ok=True)
        (repo / link).symlink_to(target)
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value)
    build = tmp_path_factory.mktemp("build")
    previous = build / "prod" / "ir.json"
    previous.parent.mkdir(parents=True)
    previous.write_text("previous build\n")
    monkeypatch.chdir(configs)  # diagnostics name files relative to the working directory

    overrides = case.get("overrides", ["env=prod"])
    code = main(["plan", "--configs", ".", "--build-dir", str(build), "--no-color", *overrides])
    captured = capsys.readouterr()
    err = captured.err

    assert code == 1, err
    lines = err.splitlines()
    assert case["expect"] in lines, err
    if "hint" in case:
        block = lines[lines.index(case["expect"]) :]
        hints = [line for line in block[1:] if line.startswith("  = hint: ")]
        assert hints and hints[0] == f"  = hint: {case['hint']}", err
    assert "Traceback" not in err
    assert previous.read_text() == "previous build\n"
    written = sorted(p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file())
    assert [p for p in written if not p.startswith(".cache/")] == ["prod/ir.json"]
    if "secret" in case:
        assert case["secret"] not in err + captured.out
        secret = case["secret"].encode()
        assert not [p for p in written if secret in (build / p).read_bytes()]
    # the JSON form of the diagnostics shows no more than the text form
    monkeypatch.chdir(configs)
    main(["validate", "--configs", ".", "--format", "json", *overrides])
    report = capsys.readouterr().out
    codes = {d["code"] for d in json.loads(report)["diagnostics"]}
    assert case["expect"].split("error[")[1][:4] in codes
    if "secret" in case:
        assert case["secret"] not in report


def test_plain_references_still_resolve(configs: Path) -> None:
    """Interpolations that name another key read nothing outside the specs: they work."""
    overlay = configs / "env" / "prod.yaml"
    text = overlay.read_text()
    overlay.write_text(
        text.replace(
            "teams:\n  fraud:\n",
            'teams:\n  fraud:\n    description: "Fraud at ${platform.organisation}"\n',
        )
    )
    result = load_platform(configs, ["env=prod"])
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.ir is not None
    assert result.ir.teams["fraud"].description == "Fraud at acme"


def test_shell_text_in_a_team_file_stays_a_plain_string(configs: Path) -> None:
    """Team files are never resolved: text like ${TAG:-latest} in container args is kept."""
    team = configs / "teams" / "search.yaml"
    text = team.read_text()
    team.write_text(
        text.replace(
            'args: [--out, "{{outputs.embeddings}}"]',
            'args: [--out, "{{outputs.embeddings}}", --tag, "${TAG:-latest}"]',
        )
    )
    result = load_platform(configs, ["env=prod"])
    assert result.ok, [d.render() for d in result.diagnostics]
    assert "${TAG:-latest}" in result.ir.model_dump_json() if result.ir else False


def test_links_inside_the_repository_are_followed(configs: Path) -> None:
    """A team file linked to a file elsewhere in the repository loads as usual."""
    shared = configs.parent / "shared"
    shared.mkdir()
    (shared / "data.yaml").write_text(
        "owners: [x@acme.example]\ncost_center: CC-1000\nquotas: {cpu: '1', memory: 1Gi}\n"
    )
    (configs / "teams" / "data.yaml").symlink_to("../../shared/data.yaml")
    result = load_platform(configs, ["env=prod"])
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.ir is not None and "data" in result.ir.teams


def test_a_resolver_in_any_file_hydra_composes_is_never_run(
    configs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever Hydra composed is checked once more before it is resolved: a resolver in a
    file the per-file checks did not see is refused too, and nothing is resolved."""
    import compiler.compose

    monkeypatch.setenv("MLPLAT_TEST_SECRET", "tok-net-4d5e")
    overlay = configs / "env" / "prod.yaml"
    overlay.write_text(
        overlay.read_text().replace(
            "teams:\n  fraud:\n",
            'teams:\n  fraud:\n    description: "${oc.env:MLPLAT_TEST_SECRET}"\n',
        )
    )
    monkeypatch.setattr(compiler.compose, "_confinement", lambda *args, **kwargs: [])
    result = load_platform(configs, ["env=prod"])
    assert [d.code for d in result.diagnostics] == ["E014"]
    assert result.diagnostics[0].message == (
        "the composed config calls a resolver; specs may not use resolvers"
    )
    assert result.composed is None and "tok-net-4d5e" not in result.diagnostics[0].render()
