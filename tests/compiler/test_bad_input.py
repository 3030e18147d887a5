"""Table-driven: each mistake in cases/bad_input.yaml gives exactly the diagnostic listed there,
exits 1, and leaves the previous build untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.cli import main
from tests.helpers import apply_edits, load_cases

CASES = load_cases(Path(__file__).parent / "cases" / "bad_input.yaml")


def test_there_are_at_least_25_distinct_mistakes():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 25
    assert len({case["expect"].split("error[")[1][:4] for case in CASES}) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_gives_the_exact_diagnostic(case, configs, tmp_path, monkeypatch, capsys):
    apply_edits(configs, case)
    build = tmp_path / "build"
    previous = build / "local" / "ir.json"
    previous.parent.mkdir(parents=True)
    previous.write_text("previous build\n")
    monkeypatch.chdir(configs)  # diagnostics name files relative to the working directory

    code = main(
        [
            "compile",
            "--configs",
            ".",
            "--build-dir",
            str(build),
            "--no-color",
            *case.get("overrides", []),
        ]
    )
    err = capsys.readouterr().err

    assert code == 1, err
    lines = err.splitlines()
    assert case["expect"] in lines, err
    for independent in case.get("also", []):  # one error never hides another
        assert independent in lines, err
    if "hint" in case:
        block = lines[lines.index(case["expect"]) :]
        hints = [line for line in block[1:] if line.startswith("  = hint: ")]
        assert hints and hints[0] == f"  = hint: {case['hint']}", err
    assert "Traceback" not in err
    assert previous.read_text() == "previous build\n"
    assert sorted(p.name for p in build.iterdir() if p.name != ".cache") == ["local"]  # no debris
