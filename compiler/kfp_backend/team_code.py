"""Team step code: import a `module:function` safely and check that it can ship as source.

Importing team code is the only way to read a function's signature, so every failure of
that code (syntax errors, missing modules, exceptions at import) becomes a `TeamCodeError`
with a message and a hint, never a traceback. A kfp lightweight component ships only the
function's source, so the function must not read names defined elsewhere in its module.
"""

from __future__ import annotations

import builtins
import difflib
import dis
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from kfp import dsl

from compiler.diagnostics import did_you_mean

# Names the component's generated module defines before the function's source
# (`import kfp; from kfp import dsl; from kfp.dsl import *; from typing import *`).
_PRELUDE_NAMES = frozenset({"kfp", "dsl", *dsl.__all__, *typing.__all__, *dir(builtins)})


class TeamCodeError(Exception):
    """Team code that cannot be imported or used as a step function (message + hint)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _display_path(filename: str | None) -> str:
    if not filename:
        return "<unknown>"
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _module_hint(module: str) -> str:
    """'did you mean' among the modules next to a missing one, else where team code lives."""
    parent, _, leaf = module.rpartition(".")
    try:
        package = importlib.import_module(parent) if parent else None
    except Exception:  # a broken parent package is reported by the import itself
        package = None
    search = getattr(package, "__path__", None)
    if search is not None:
        siblings = [info.name for info in pkgutil.iter_modules(search)]
        close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
        if close:
            return f"did you mean '{parent}.{close[0]}'?"
    return "team step code lives in components/<team>/<module>.py"


def import_team_module(module: str) -> ModuleType:
    """Import `module`; any failure of the team's code becomes `TeamCodeError`."""
    try:
        return importlib.import_module(module)
    except SyntaxError as exc:
        raise TeamCodeError(
            f"module '{module}' has a syntax error at {_display_path(exc.filename)}:{exc.lineno}: "
            f"{exc.msg}",
            "fix the syntax error; the compiler imports the module to read the function's signature",
        ) from None
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module or module.startswith(f"{missing}."):
            raise TeamCodeError(
                f"module '{module}' does not exist",
                _module_hint(module),
            ) from None
        raise TeamCodeError(
            f"importing module '{module}' failed: {type(exc).__name__}: {exc}",
            "import third-party packages inside the function body, where the step's "
            "`packages` are installed; the compiler imports only the module",
        ) from None
    except (Exception, SystemExit) as exc:
        raise TeamCodeError(
            f"importing module '{module}' failed: {type(exc).__name__}: {exc}",
            "a module of team code must import without side effects or errors",
        ) from None


def _functions_of(module: Any) -> list[str]:
    return [
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__
    ]


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


@lru_cache(maxsize=4096)
def _global_reads(code: CodeType) -> frozenset[str]:
    """Global names read by `code` and the code nested in it.

    Cached by code object (equal code reads the same names): a function used by many
    pipelines is disassembled once per process, not once per step.
    """
    names: set[str] = set()
    for nested in _code_objects(code):
        for instruction in dis.get_instructions(nested):
            if instruction.opname == "LOAD_GLOBAL" and isinstance(instruction.argval, str):
                names.add(instruction.argval)
    return frozenset(names)


def outside_names(func: Callable[..., Any]) -> list[str]:
    """Global names the function reads that its shipped source would not define."""
    return sorted(_global_reads(func.__code__) - _PRELUDE_NAMES - {func.__name__})


def load_function(ref: str) -> Callable[..., Any]:
    """The function named by 'module:function'."""
    module_name, _, func_name = ref.partition(":")
    module = import_team_module(module_name)
    func = getattr(module, func_name, None)
    if func is None:
        raise TeamCodeError(
            f"module '{module_name}' has no function '{func_name}'",
            did_you_mean(func_name, _functions_of(module)),
        )
    if not inspect.isfunction(func):
        raise TeamCodeError(
            f"'{ref}' is not a function (it is a value of type {type(func).__name__})",
            "point at a plain function defined with 'def'",
        )
    return func


def shipping_problems(ref: str, func: Callable[..., Any]) -> list[TeamCodeError]:
    """Why the function's source alone would not run in the step's container."""
    problems = []
    if func.__code__.co_freevars:
        problems.append(
            TeamCodeError(
                f"{ref} is a nested function (it uses "
                f"{', '.join(func.__code__.co_freevars)} of an enclosing function)",
                "define the function at the top level of its module",
            )
        )
    outside = outside_names(func)
    if outside:
        problems.append(
            TeamCodeError(
                f"{ref} uses {', '.join(repr(n) for n in outside)} from outside the function; "
                "a python step ships only the function's source",
                "import modules and define helpers inside the function body",
            )
        )
    return problems
