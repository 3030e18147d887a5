"""Pipeline mistakes only the backend can see are diagnostics at the YAML file and line.

One team file holds one pipeline per case; the team's step code is a throwaway package.
The frontend and the backend run once; each case then owns the diagnostics that point
into its pipeline's block of the file, and they must be exactly the expected one.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.diagnostics import Diagnostic
from compiler.frontend import load_platform
from compiler.kfp_backend import compile_all
from compiler.team_packages import code_root_at
from tests.conftest import CONFIGS

PIPELINE_KEY = re.compile(r"  [a-z0-9-]+:")
"""A pipeline's key line in the generated team file (pipelines are indented two spaces)."""

TEAM_CODE = {
    "good.py": """
        from typing import NamedTuple

        from kfp.dsl import Dataset, Input, Metrics, Model, Output

        CONSTANT = 3
        np = None


        def make_data(n: int, data: Output[Dataset]) -> None:
            with open(data.path, "w") as handle:
                handle.write(str(n))


        def train(data: Input[Dataset], rate: float, model: Output[Model]) -> None:
            with open(model.path, "w") as handle:
                handle.write(str(rate))


        def score(model: Input[Model]) -> float:
            return 0.5


        def summarise(data: Input[Dataset], stats: Output[Metrics]) -> NamedTuple("Outputs", [("rows", int), ("share", float)]):
            stats.log_metric("rows", 1)
            return (1, 0.5)


        def uses_global(n: int) -> None:
            print(np, CONSTANT + n)
        """,
    "broken_syntax.py": """
        def f(n: int) -> None
            return None
        """,
    "broken_import.py": """
        import mlplat_not_installed_xyz


        def f(n: int) -> None:
            return None
        """,
    "raises.py": """
        raise RuntimeError("configuration missing")


        def f(n: int) -> None:
            return None
        """,
}


@dataclass(frozen=True)
class Case:
    pipeline: str
    body: str
    code: str
    needle: str
    """Text on the line the diagnostic must point at (first match inside the case's block)."""
    message: str
    """A fragment of the expected message."""


CASES = [
    Case(
        "module-missing",
        """
        steps:
          only:
            python: {function: PKG.nothere:make_data}
            inputs: {n: 1}
            outputs: {data: Dataset}
        """,
        "E211",
        "function: PKG.nothere",
        "module 'PKG.nothere' does not exist",
    ),
    Case(
        "function-missing",
        """
        steps:
          only:
            python: {function: PKG.good:make_dta}
            inputs: {n: 1}
            outputs: {data: Dataset}
        """,
        "E211",
        "function: PKG.good:make_dta",
        "has no function 'make_dta'",
    ),
    Case(
        "syntax-error",
        """
        steps:
          only:
            python: {function: PKG.broken_syntax:f}
            inputs: {n: 1}
        """,
        "E211",
        "PKG.broken_syntax:f",
        "syntax error",
    ),
    Case(
        "not-a-function",
        """
        steps:
          only:
            python: {function: PKG.good:CONSTANT}
        """,
        "E211",
        "PKG.good:CONSTANT",
        "'PKG.good:CONSTANT' is not a function defined with 'def' at the top level of its "
        "module (see ",
    ),
    Case(
        "not-self-contained",
        """
        steps:
          only:
            python: {function: PKG.good:uses_global}
            inputs: {n: 1}
        """,
        "E211",
        "PKG.good:uses_global",
        "uses 'CONSTANT', 'np' from outside the function",
    ),
    Case(
        "extra-input",
        """
        steps:
          only:
            python: {function: PKG.good:make_data}
            inputs:
              n: 1
              batch: 2
            outputs: {data: Dataset}
        """,
        "E211",
        "batch: 2",
        "has no argument 'batch'",
    ),
    Case(
        "unfed-argument",
        """
        steps:
          make:
            python: {function: PKG.good:make_data}
            inputs: {n: 1}
            outputs: {data: Dataset}
          fit:
            python: {function: PKG.good:train}
            inputs:
              data: {step: make, output: data}
            outputs: {model: Model}
        """,
        "E211",
        "PKG.good:train",
        "step 'fit' gives no value to argument 'rate' (float) of PKG.good:train",
    ),
    Case(
        "output-fed-as-input",
        """
        steps:
          make:
            python: {function: PKG.good:make_data}
            inputs: {n: 1}
            outputs: {data: Dataset}
          fit:
            python: {function: PKG.good:train}
            inputs:
              data: {step: make, output: data}
              rate: 0.5
              model: {step: make, output: data}
        """,
        "E211",
        "model: {step: make, output: data}",
        "declares it as an output (model: Output[Model])",
    ),
    Case(
        "output-missing",
        """
        steps:
          only:
            python: {function: PKG.good:make_data}
            inputs: {n: 1}
            outputs:
              data: Dataset
              stats: Metrics
        """,
        "E211",
        "stats: Metrics",
        "declares output 'stats', but PKG.good:make_data does not produce it",
    ),
    Case(
        "output-wrong-type",
        """
        steps:
          only:
            python: {function: PKG.good:make_data}
            inputs: {n: 1}
            outputs:
              data: Model
        """,
        "E211",
        "data: Model",
        "declares output 'data' as Model, but PKG.good:make_data produces Output[Dataset]",
    ),
    Case(
        "return-value-undeclared",
        """
        steps:
          make:
            python: {function: PKG.good:make_data}
            inputs: {n: 1}
            outputs: {data: Dataset}
          fit:
            python: {function: PKG.good:train}
            inputs:
              data: {step: make, output: data}
              rate: 0.1
            outputs: {model: Model}
          judge:
            python: {function: PKG.good:score}
            inputs:
              model: {step: fit, output: model}
        """,
        "E211",
        "PKG.good:score",
        "step 'judge' does not declare the return value (float) of PKG.good:score",
    ),
    Case(
        "dataset-into-float",
        """
        steps:
          make:
            python: {function: PKG.good:make_data}
            inputs: {n: 1}
            outputs: {data: Dataset}
          fit:
            python: {function: PKG.good:train}
            inputs:
              data: {step: make, output: data}
              rate: {step: make, output: data}
            outputs: {model: Model}
        """,
        "E210",
        "rate: {step: make, output: data}",
        "input 'rate' of step 'fit' is output 'data' of step 'make', of type Dataset, "
        "but PKG.good:train takes rate: float",
    ),
    Case(
        "int-param-into-model",
        """
        parameters:
          n: {type: int, default: 3}
        steps:
          judge:
            python: {function: PKG.good:score}
            inputs:
              model: {param: n}
            outputs: {auc: float}
        """,
        "E210",
        "model: {param: n}",
        "is pipeline parameter 'n', of type int, but PKG.good:score takes model: Input[Model]",
    ),
    Case(
        "string-into-float",
        """
        steps:
          make:
            python: {function: PKG.good:make_data}
            inputs: {n: 1}
            outputs: {data: Dataset}
          fit:
            python: {function: PKG.good:train}
            inputs:
              data: {step: make, output: data}
              rate: fast
            outputs: {model: Model}
        """,
        "E210",
        "rate: fast",
        "is the constant 'fast', of type str",
    ),
    Case(
        "cron-extension",
        """
        steps:
          only:
            python: {function: PKG.good:make_data}
            inputs: {n: 1}
            outputs: {data: Dataset}
        schedule:
          cron: "0 3 L * *"
        """,
        "E107",
        'cron: "0 3 L * *"',
        "uses L, W or #",
    ),
]

VALID = """
        parameters:
          rows: {type: int, default: 10}
        steps:
          make:
            python: {function: PKG.good:make_data}
            inputs: {n: {param: rows}}
            outputs: {data: Dataset}
          fit:
            python: {function: PKG.good:train}
            inputs:
              data: {step: make, output: data}
              rate: 1
            outputs: {model: Model}
          judge:
            python: {function: PKG.good:score}
            inputs:
              model: {step: fit, output: model}
            outputs: {auc: float}
          sum:
            python: {function: PKG.good:summarise}
            inputs:
              data: {step: make, output: data}
            outputs: {stats: Metrics, rows: int, share: float}
            after: [judge]
          missing-import:
            python: {function: PKG.broken_import:f}
            inputs: {n: 1}
          raises:
            python: {function: PKG.raises:f}
            inputs: {n: 1}
"""


@dataclass
class Outcome:
    team_file: Path
    lines: list[str]
    files: dict[str, str]
    diagnostics: list[Diagnostic]
    package: str

    def block(self, pipeline: str) -> tuple[int, int]:
        """First and last line (1-based) of a pipeline's block in the team file."""
        starts = [i + 1 for i, line in enumerate(self.lines) if PIPELINE_KEY.fullmatch(line)]
        start = self.lines.index(f"  {pipeline}:") + 1
        later = [s for s in starts if s > start]
        return start, (later[0] - 1 if later else len(self.lines))

    def line_of(self, pipeline: str, needle: str) -> int:
        first, last = self.block(pipeline)
        needle = needle.replace("PKG", self.package)
        for number in range(first, last + 1):
            if needle in self.lines[number - 1]:
                return number
        raise AssertionError(f"{needle!r} not in the block of {pipeline}")


@pytest.fixture(scope="module")
def outcome(tmp_path_factory) -> Outcome:
    root = tmp_path_factory.mktemp("kfp-diagnostics")
    package = "components.lab"
    shutil.copytree(CONFIGS.parent / "components", root / "components")  # the example teams'
    folder = root / "components" / "lab"
    folder.mkdir()
    for name, source in TEAM_CODE.items():
        (folder / name).write_text(textwrap.dedent(source).lstrip())
    configs = root / "configs"
    shutil.copytree(CONFIGS, configs)
    blocks = [
        f"  {case.pipeline}:\n" + textwrap.indent(textwrap.dedent(case.body).strip(), "    ") + "\n"
        for case in CASES
    ]
    blocks.append("  valid:\n" + textwrap.indent(textwrap.dedent(VALID).strip(), "    ") + "\n")
    team = (
        "description: Backend diagnostics under test\n"
        "owners: [lab@acme.example]\n"
        "cost_center: CC-0001\n"
        "quotas: {gpus: 0, cpu: '16', memory: 64Gi}\n"
        "pipelines:\n" + "".join(blocks)
    ).replace("PKG", package)
    team_file = configs / "teams" / "lab.yaml"
    team_file.write_text(team)
    with code_root_at(root):
        result = load_platform(configs, ["env=local"])
        assert result.ok, [d.render() for d in result.diagnostics if d.is_error]
        assert result.ir is not None
        files, diagnostics = compile_all(result.ir, result.sources.locate)
    return Outcome(team_file.resolve(), team.splitlines(), files, diagnostics, package)


@pytest.mark.parametrize("case", CASES, ids=[c.pipeline for c in CASES])
def test_backend_diagnostic(outcome, case):
    first, last = outcome.block(case.pipeline)
    found = [
        d
        for d in outcome.diagnostics
        if Path(d.span.file).resolve() == outcome.team_file and first <= d.span.line <= last
    ]
    expected_line = outcome.line_of(case.pipeline, case.needle)
    assert [(d.code, d.span.line) for d in found] == [(case.code, expected_line)], [
        d.render() for d in found
    ]
    assert case.message.replace("PKG", outcome.package) in found[0].message
    assert f"pipelines/lab/{case.pipeline}.yaml" not in outcome.files


def test_every_diagnostic_belongs_to_a_case(outcome):
    assert len(outcome.diagnostics) == len(CASES), [d.render() for d in outcome.diagnostics]


def test_the_valid_pipeline_and_the_example_teams_still_compile(outcome):
    assert "pipelines/lab/valid.yaml" in outcome.files
    assert "pipelines/fraud/train-fraud-model.yaml" in outcome.files


def test_mlplat_compile_reports_a_missing_function_and_writes_nothing(configs, tmp_path, capsys):
    from compiler.cli import EXIT_INVALID, main

    team_file = configs / "teams" / "fraud.yaml"
    text = team_file.read_text()
    assert text.count("components.fraud.train:train_model") == 1
    team_file.write_text(text.replace("train:train_model", "train:train_modle"))
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "train:train_model" in row)
    build = tmp_path / "build"
    code = main(["compile", "--configs", str(configs), "--env", "local", "--build-dir", str(build)])
    assert code == EXIT_INVALID
    err = capsys.readouterr().err
    assert f"fraud.yaml:{line}:" in err
    assert "error[E211]: step 'train': module 'components.fraud.train' has no function" in err
    assert "did you mean 'train_model'?" in err
    assert "Traceback" not in err
    assert not (build / "local").exists()  # only the cache of the pipelines that compiled
