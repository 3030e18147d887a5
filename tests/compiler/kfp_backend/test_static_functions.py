"""Team step code is read, never run, by validate, compile, plan and check.

A pull request's `components/` code runs on the CI machine only if mlplat imports it. Each
module below tries to write a marker file at import time: from its top level, a decorator,
a default value, an annotation, a class body or its package's `__init__.py`. The commands
run in a fresh interpreter on a copy of the repository layout (configs/ and components/
side by side, with a team `credit-risk` whose package is components/credit_risk/), and
the test checks the exact diagnostics, that no marker was written and that no module of
team code (nor `this`, nor another team's) was imported.

The function objects made from the source give the same kfp components, byte for byte, as
the imported functions (`test_static_component_equals_the_imported_one`).
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from kfp import dsl

from compiler.frontend import load_platform
from compiler.kfp_backend.team_code import load_function
from compiler.team_packages import code_root_at
from tests.conftest import CONFIGS, REPO

TEAM = "credit-risk"
PACKAGE = "components.credit_risk"


def marker(name: str) -> str:
    """Python code that writes the marker `name` in the working directory."""
    return f"open('MARKER-{name}', 'w').close()"


MODULES = {
    "__init__.py": f"{marker('package-init')}\n",
    "top.py": f"""
        from kfp.dsl import Dataset, Output

        {marker("top-level")}
        import mlplat_not_installed_xyz  # would fail an import


        def make(n: int, data: Output[Dataset]) -> None:
            with open(data.path, "w") as handle:
                handle.write(str(n))
        """,
    "helpers.py": f"""
        from kfp import dsl


        def noisy(func):
            {marker("helper-decorator")}
            return func


        @noisy
        def helper() -> None:
            pass


        def other(path: str = {marker("helper-default")[:-8]}) -> None:
            pass


        class Settings:
            {marker("class-body")}


        def score(rows: int, threshold: float = 0.5, *, tags: list = ["a", "b"]) -> None:
            print(dsl, rows, threshold, tags)
        """,
    "bad_default.py": f"""
        def f(n: int, path: str = {marker("default")[:-8]}.name) -> None:
            pass
        """,
    "decorated.py": f"""
        def noisy(func):
            {marker("decorator")}
            return func


        @noisy
        def f(n: int) -> None:
            pass
        """,
    "bad_annotation.py": f"""
        def f(n: {marker("annotation")[:-8]}) -> None:
            pass
        """,
}


@dataclass(frozen=True)
class Step:
    name: str
    function: str
    inputs: str
    expect: str | None
    """The diagnostic after `file:line:col: `, or None when the step is fine."""
    hint: str | None = None
    outputs: str | None = None


OUTSIDE_HINT = (
    "put the function in components/credit_risk/<module>.py and write function: "
    "components.credit_risk.<module>:{name} (the package is the team name with '-' written "
    "'_', e.g. team 'credit-risk' → components.credit_risk); each team's step code is its "
    "own, reviewed by its owners"
)

SAFE = [
    Step("top-level", f"{PACKAGE}.top:make", "{n: 1}", None, outputs="{data: Dataset}"),
    Step("beside-noise", f"{PACKAGE}.helpers:score", "{rows: 3}", None),
]
STATIC = [
    Step(
        "default",
        f"{PACKAGE}.bad_default:f",
        "{n: 1}",
        "error[E211]: step 'default': the default of argument 'path' of "
        f"{PACKAGE}.bad_default:f is not a literal: open('MARKER-default', 'w').name "
        "(components/credit_risk/bad_default.py:1:27)",
        "defaults are read without running the module: write a constant (a number, string, "
        "True, False, None, or a list or dict of them)",
    ),
    Step(
        "decorator",
        f"{PACKAGE}.decorated:f",
        "{n: 1}",
        f"error[E211]: step 'decorator': {PACKAGE}.decorated:f has a decorator, which the "
        "compiler does not run (components/credit_risk/decorated.py:6:2)",
        "remove it: a step runs the function's own source, without its decorators",
    ),
    Step(
        "annotation",
        f"{PACKAGE}.bad_annotation:f",
        "{n: 1}",
        f"error[E211]: step 'annotation': argument 'n' of {PACKAGE}.bad_annotation:f is "
        "annotated open('MARKER-annotation', 'w'), not a type a step may use: open is not "
        "allowed (components/credit_risk/bad_annotation.py:1:10)",
    ),
]
OUTSIDE = [
    Step(
        "os-system",
        "os:system",
        "{command: 'touch MARKER-os'}",
        "error[E225]: step 'os-system' of pipeline 'outside': function 'os:system' is in "
        "module 'os', outside components/; a step of team 'credit-risk' runs only functions "
        "of components.credit_risk.<module>",
        OUTSIDE_HINT.format(name="system"),
    ),
    Step(
        "zen",
        "this:s",
        "{}",
        "error[E225]: step 'zen' of pipeline 'outside': function 'this:s' is in module "
        "'this', outside components/; a step of team 'credit-risk' runs only functions of "
        "components.credit_risk.<module>",
        OUTSIDE_HINT.format(name="s"),
    ),
    Step(
        "cross-team",
        "components.search.data:make_click_log",
        "{n_queries: 1, seed: 1}",
        "error[E225]: step 'cross-team' of pipeline 'outside': function "
        "'components.search.data:make_click_log' is in another team's package "
        "(components.search); a step of team 'credit-risk' runs only functions of "
        "components.credit_risk.<module>",
        OUTSIDE_HINT.format(name="make_click_log"),
    ),
    Step(
        "package-itself",
        f"{PACKAGE}:f",
        "{}",
        f"error[E225]: step 'package-itself' of pipeline 'outside': function '{PACKAGE}:f' is "
        f"in the package {PACKAGE} itself, not a module of it; a step of team 'credit-risk' "
        f"runs only functions of {PACKAGE}.<module>",
        OUTSIDE_HINT.format(name="f"),
    ),
]
SCENARIOS = {"safe": SAFE, "static": STATIC, "outside": OUTSIDE}
COMMANDS = ("validate", "compile", "plan", "check")

RUN = """
import contextlib, io, json, sys
from compiler.cli import main

out = {}
for command in sys.argv[1:]:
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = main([command, "--configs", "configs", "--env", "prod", "--no-color",
                     *(["--jobs", "1", "--build-dir", "build"] if command != "validate" else [])])
    out[command] = {"code": code, "err": err.getvalue(), "out": std.getvalue()}
watched = ("this", "components", "mlplat_not_installed_xyz")
out["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in watched)
print(json.dumps(out))
"""


def team_file(steps: list[Step]) -> str:
    body = "".join(
        f"      {s.name}:\n        python: {{function: {s.function}}}\n        inputs: {s.inputs}\n"
        + (f"        outputs: {s.outputs}\n" if s.outputs else "")
        for s in steps
    )
    return (
        "description: Credit risk models\n"
        "owners: [risk@acme.example]\n"
        "cost_center: CC-0042\n"
        "quotas: {gpus: 0, cpu: '8', memory: 32Gi}\n"
        f"pipelines:\n  {'outside' if steps is OUTSIDE else 'checks'}:\n    steps:\n" + body
    )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, tuple[Path, str, dict]]:
    found = {}
    for scenario, steps in SCENARIOS.items():
        root = tmp_path_factory.mktemp(f"static-{scenario}")
        shutil.copytree(CONFIGS, root / "configs")
        shutil.copytree(REPO / "components", root / "components", ignore=_no_cache)
        package = root / "components" / "credit_risk"
        package.mkdir()
        for name, source in MODULES.items():
            (package / name).write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        text = team_file(steps)
        (root / "configs" / "teams" / f"{TEAM}.yaml").write_text(text, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", RUN, *COMMANDS],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        found[scenario] = (root, text, json.loads(done.stdout.strip().splitlines()[-1]))
    return found


def _no_cache(_folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def _where(text: str, step: Step) -> str:
    """`file:line:col` of the step's `function:` value in the team file."""
    for number, line in enumerate(text.splitlines(), start=1):
        if f"function: {step.function}}}" in line:
            return f"configs/teams/{TEAM}.yaml:{number}:{line.index(step.function) + 1}"
    raise AssertionError(step.function)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_team_code_runs(outcomes, scenario):
    root, _, out = outcomes[scenario]
    assert sorted(p.name for p in root.rglob("MARKER-*")) == []
    assert out["imported"] == []  # not `this`, not components.*, not what top.py imports
    assert all("Beautiful is better than ugly" not in r["out"] + r["err"] for r in _runs(out))


def _runs(out: dict) -> list[dict]:
    return [out[c] for c in COMMANDS]


def _errors(result: dict) -> list[str]:
    return [line for line in result["err"].splitlines() if ": error[" in line]


def test_safe_modules_compile_plan_and_check_cleanly(outcomes):
    root, _, out = outcomes["safe"]
    for command in COMMANDS:
        assert out[command]["code"] == 0, (command, out[command]["err"])
        assert _errors(out[command]) == [], command
    compiled = (root / "build" / "prod" / "pipelines" / TEAM / "checks.yaml").read_text()
    assert "def make(n: int, data: Output[Dataset]) -> None:" in compiled
    assert "MARKER" not in compiled  # the module's other code does not ship


@pytest.mark.parametrize("step", STATIC + OUTSIDE, ids=[s.name for s in STATIC + OUTSIDE])
def test_each_problem_is_one_exact_diagnostic(outcomes, step):
    scenario = "static" if step in STATIC else "outside"
    _, text, out = outcomes[scenario]
    expected = f"{_where(text, step)}: {step.expect}"
    # validate does not read step code; a function outside the team is refused everywhere
    commands = COMMANDS[1:] if scenario == "static" else COMMANDS
    for command in commands:
        result = out[command]
        assert result["code"] == 1, (command, result["err"])
        assert expected in _errors(result), (command, result["err"])
        if step.hint:
            lines = result["err"].splitlines()
            block = lines[lines.index(expected) :]
            hints = [line for line in block[1:] if line.startswith("  = hint: ")]
            assert hints[0] == f"  = hint: {step.hint}", (command, result["err"])
    if scenario == "static":
        assert out["validate"]["code"] == 0, out["validate"]["err"]


@pytest.mark.parametrize("scenario", ["static", "outside"])
def test_nothing_else_is_reported(outcomes, scenario):
    steps = SCENARIOS[scenario]
    _, _, out = outcomes[scenario]
    for command in COMMANDS[1:] if scenario == "static" else COMMANDS:
        assert len(_errors(out[command])) == len(steps), (command, out[command]["err"])


def _python_refs() -> list[str]:
    ir = load_platform(CONFIGS, ["env=prod"]).ir
    assert ir is not None
    return sorted({s.python.function for p in ir.pipelines() for s in p.steps.values() if s.python})


FEATURES = '''
"""Every form of signature a step may use."""
import typing
from typing import Dict, List, NamedTuple, Optional

import kfp.dsl as kd
from kfp import dsl
from kfp.dsl import *  # noqa: F403


def forms(
    data: Input[Dataset],
    table: kd.Input[kd.Dataset],
    report: dsl.Output[dsl.Metrics],
    path: InputPath("Dataset"),
    out_path: OutputPath(str),
    rows: int = -3,
    rate: float = 0.25,
    name: str = "x",
    flag: bool = True,
    maybe: Optional[int] = None,
    tags: List[str] = ["a"],
    extra: Dict[str, int] = {"k": 1},
    raw: list = [],
    mapping: dict = {},
    *,
    late: int = 7,
) -> NamedTuple("Outputs", [("score", float), ("passed", bool), ("model", Model)]):
    """Check every form.

    Args:
        data: The rows.
        rows: How many.

    Returns:
        score: The score.
    """
    return (1.0, True, None)


def keywords(n: int) -> typing.NamedTuple("Outputs", total=float, label=str):
    return (1.0, "a")


def plain(
    a: int,
    b: str = "it's",
) -> float:
    return 0.0
'''


@pytest.fixture
def features(tmp_path, monkeypatch):
    code = tmp_path / "components" / "lab"
    code.mkdir(parents=True)
    (code / "forms.py").write_text(FEATURES, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "components"))
    yield tmp_path
    for name in [m for m in sys.modules if m == "lab" or m.startswith("lab.")]:
        monkeypatch.delitem(sys.modules, name)


@pytest.mark.parametrize("ref", _python_refs())
def test_static_component_equals_the_imported_one(ref):
    module, _, name = ref.partition(":")
    imported = getattr(importlib.import_module(module), name)  # the test's own import
    _same_component(load_function(ref), imported)


@pytest.mark.parametrize("name", ["forms", "keywords", "plain"])
def test_every_signature_form_gives_the_imported_component(features, name):
    with code_root_at(features):
        static = load_function(f"components.lab.forms:{name}")
    _same_component(static, getattr(importlib.import_module("lab.forms"), name))


def _same_component(static, imported) -> None:
    import inspect

    made, real = inspect.signature(static), inspect.signature(imported)
    assert made.parameters == real.parameters
    if hasattr(real.return_annotation, "_fields"):  # a NamedTuple: a new class each time
        assert made.return_annotation._fields == real.return_annotation._fields
        assert made.return_annotation.__annotations__ == real.return_annotation.__annotations__
    else:
        assert made.return_annotation == real.return_annotation
    assert static.__doc__ == imported.__doc__
    for settings in ({}, {"packages_to_install": ["pandas==3.1.1"]}):
        made = dsl.component(static, base_image="python:3.11-slim", **settings)
        expected = dsl.component(imported, base_image="python:3.11-slim", **settings)
        assert made.component_spec == expected.component_spec
        assert made.pipeline_spec == expected.pipeline_spec  # the compiled IR, as kfp writes it
