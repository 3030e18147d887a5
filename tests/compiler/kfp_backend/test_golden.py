"""Golden files: each case under tests/golden/kfp/<case>/ is a team spec (spec.yaml) and its
compiled output side by side (expected.yaml, expected.schedule.json when scheduled).

All cases compile in one run against tests/golden/kfp/_platform/. `make golden`
(MLPLAT_UPDATE_GOLDEN=1) rewrites the expected files; review them as a diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from compiler.frontend import load_platform
from compiler.kfp_backend import compile_all
from compiler.team_packages import code_root_at

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "kfp"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "spec.yaml").is_file())
UPDATE = os.environ.get("MLPLAT_UPDATE_GOLDEN") == "1"

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, str]:
    configs = tmp_path_factory.mktemp("golden") / "configs"
    shutil.copytree(GOLDEN / "_platform", configs)
    code = configs.parent  # each case team's package holds a copy of golden_steps.py
    for case in CASES:
        shutil.copy(GOLDEN / case / "spec.yaml", configs / "teams" / f"{case}.yaml")
        package = code / "components" / case.replace("-", "_")
        package.mkdir(parents=True)
        shutil.copy(GOLDEN / "golden_steps.py", package / "golden_steps.py")
    with code_root_at(code):
        result = load_platform(configs)
        assert result.ok and result.ir is not None, [d.render() for d in result.diagnostics]
        files, diagnostics = compile_all(result.ir, result.sources.locate)
    assert diagnostics == [], [d.render() for d in diagnostics]
    return files


def test_cases_exist():
    assert len(CASES) >= 4


@pytest.mark.parametrize("case", CASES)
def test_compiled_output_matches_golden(compiled, case):
    mine = {rel: text for rel, text in compiled.items() if rel.startswith(f"pipelines/{case}/")}
    pipelines = {Path(rel).name.split(".", 1)[0] for rel in mine}
    assert len(pipelines) == 1, f"case {case} must hold exactly one pipeline, got {pipelines}"
    # <pipeline>.yaml → expected.yaml, <pipeline>.schedule.json → expected.schedule.json
    produced = {"expected." + Path(rel).name.split(".", 1)[1]: text for rel, text in mine.items()}
    folder = GOLDEN / case
    if UPDATE:
        for stale in folder.glob("expected*"):
            stale.unlink()
        for name, text in produced.items():
            (folder / name).write_text(text, encoding="utf-8")
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("expected*"))}
    assert set(on_disk) == set(produced), "run `make golden` and review the diff"
    for name, text in produced.items():
        assert text == on_disk[name], (
            f"{case}/{name} differs: run `make golden` and review the diff"
        )
