"""Table-driven: each mistake in cases/bad_training.yaml (distributed steps and sweeps) gives
exactly the diagnostic listed there, exits 1, and leaves the previous build untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compiler.test_bad_input import test_bad_input_gives_the_exact_diagnostic as check
from tests.helpers import load_cases

CASES = load_cases(Path(__file__).parent / "cases" / "bad_training.yaml")


def test_every_training_code_is_exercised():
    codes = {case["expect"].split("error[")[1][:4] for case in CASES}
    assert {
        "E320",
        "E321",
        "E322",
        "E323",
        "E324",
        "E330",
        "E331",
        "E332",
        "E333",
        "E334",
        "E205",
    } <= codes
    assert len({case["id"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_training_mistake_gives_the_exact_diagnostic(case, configs, tmp_path, monkeypatch, capsys):
    check(case, configs, tmp_path, monkeypatch, capsys)
