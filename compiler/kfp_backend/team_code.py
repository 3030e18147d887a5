"""Team step code, read from its source and never run.

A pull request's `components/` code must not run while mlplat validates, compiles or plans
it (CI plans changes from people who may not run code on its machines). So a step function
is found in the `ast` of its module, not by importing it: its annotations are evaluated
only against an allow-list of types (kfp.dsl artifacts and Input/Output markers, int,
float, str, bool, list, dict, typing.NamedTuple, List, Dict, Optional), resolved through
the module's own top-level imports; its defaults must be literals (read with
`ast.literal_eval`); decorators are refused. The function object kfp needs is made from
that `def` alone, with its body compiled and never called, its defaults and annotations
set from those values; kfp reads its source through `linecache`, pinned to the bytes
parsed here. kfp's own component builder then runs unchanged, so the component is the one
an import would give (tests/compiler/kfp_backend/test_static_functions.py compares them).

A kfp lightweight component ships only the function's source, so the function must not
read names defined elsewhere in its module (`shipping_problems`).
"""

from __future__ import annotations

import ast
import builtins
import difflib
import dis
import io
import linecache
import os
import pkgutil
import tokenize
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import CodeType, FunctionType
from typing import Any

import kfp
from kfp import dsl

from compiler.diagnostics import did_you_mean
from compiler.team_packages import code_root, module_file

# Names the component's generated module defines before the function's source
# (`import kfp; from kfp import dsl; from kfp.dsl import *; from typing import *`).
_PRELUDE_NAMES = frozenset({"kfp", "dsl", *dsl.__all__, *typing.__all__, *dir(builtins)})

_MODULES: dict[str, Any] = {"kfp": kfp, "kfp.dsl": dsl, "typing": typing}
"""Modules an annotation may name (through the team module's own imports)."""
_TYPES: dict[tuple[str, str], Any] = {
    **{
        ("builtins", n): getattr(builtins, n)
        for n in ("int", "float", "str", "bool", "list", "dict")
    },
    **{("typing", n): getattr(typing, n) for n in ("NamedTuple", "List", "Dict", "Optional")},
    **{
        ("kfp.dsl", n): getattr(dsl, n)
        for n in (
            "Input",
            "Output",
            "InputPath",
            "OutputPath",
            "Artifact",
            "Dataset",
            "Model",
            "Metrics",
            "ClassificationMetrics",
            "SlicedClassificationMetrics",
            "HTML",
            "Markdown",
        )
    },
}
"""What an annotation may be made of, by (module, name)."""
_GENERICS = frozenset(
    id(_TYPES[k])
    for k in [
        ("kfp.dsl", "Input"),
        ("kfp.dsl", "Output"),
        ("typing", "List"),
        ("typing", "Dict"),
        ("typing", "Optional"),
        ("builtins", "list"),
        ("builtins", "dict"),
    ]
)
_PATH_MARKERS = frozenset(id(_TYPES[("kfp.dsl", n)]) for n in ("InputPath", "OutputPath"))
_ALLOWED_TEXT = (
    "int, float, str, bool, list, dict, Input[...] / Output[...] of a kfp.dsl artifact type "
    "(Dataset, Model, Metrics, ...), InputPath / OutputPath, List, Dict, Optional, a "
    "NamedTuple(...) return, imported from kfp.dsl or typing"
)


class TeamCodeError(Exception):
    """Team code that cannot be read or used as a step function (message + hint)."""

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
    folder = os.path.join(str(code_root()), *parent.split(".")) if parent else None
    if folder and os.path.isdir(folder):
        siblings = [info.name for info in pkgutil.iter_modules([folder])]  # lists, never imports
        close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
        if close:
            return f"did you mean '{parent}.{close[0]}'?"
    return "team step code lives in components/<team>/<module>.py"


Binding = tuple[Any, ...]
"""What a top-level name of a team module is bound to, as far as reading can tell:
("module", name, line), ("attr", module, name, line), ("def", node) or ("other", line)."""


@dataclass(eq=False)
class _Module:
    """One version of a team module's source, parsed."""

    name: str
    filename: str
    lines: list[str]
    tree: ast.Module
    functions: dict[str, Callable[..., Any] | TeamCodeError] = field(default_factory=dict)

    def at(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", 0)
        return f"{_display_path(self.filename)}:{line}:{getattr(node, 'col_offset', 0) + 1}"


def _source_lines(data: bytes) -> list[str]:
    """The lines `linecache` would read from the file (its encoding, universal newlines)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    lines = io.TextIOWrapper(io.BytesIO(data), encoding, line_buffering=True).readlines()
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


@lru_cache(maxsize=1024)
def _parse(module: str, filename: str, data: bytes) -> _Module:
    """A module's source, parsed once per content (many pipelines share step modules)."""
    try:
        tree = ast.parse(data, filename)
        lines = _source_lines(data)
    except SyntaxError as exc:
        raise _syntax_error(module, exc) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise TeamCodeError(
            f"module '{module}' cannot be read: {type(exc).__name__}: {exc}",
            "fix the module; the compiler reads it to find the function",
        ) from None
    return _Module(module, filename, lines, tree)


def _syntax_error(module: str, exc: SyntaxError) -> TeamCodeError:
    return TeamCodeError(
        f"module '{module}' has a syntax error at {_display_path(exc.filename)}:{exc.lineno}: "
        f"{exc.msg}",
        "fix the syntax error; the compiler reads the module to find the function",
    )


def read_module(module: str) -> _Module:
    """The parsed source of a team module; nothing of it runs."""
    path = module_file(module)
    if path is None:
        raise TeamCodeError(f"module '{module}' does not exist", _module_hint(module))
    filename = os.path.abspath(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TeamCodeError(f"module '{module}' cannot be read: {exc.strerror}") from None
    parsed = _parse(module, filename, data)
    # kfp takes the function's source from linecache: pin the exact bytes parsed here (an
    # entry without a modification time is never re-read from disk).
    linecache.cache[filename] = (len(data), None, parsed.lines, filename)
    return parsed


def _stored_names(node: ast.AST) -> Iterator[tuple[str, int]]:
    """Names a top-level statement binds in the module, and where (not descending into the
    bodies of functions and classes, whose names are their own)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield node.name, node.lineno
        return
    if isinstance(node, ast.Lambda):
        return
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
        yield node.id, node.lineno
    elif isinstance(node, ast.alias):
        yield (node.asname or node.name).split(".")[0], node.lineno
    for child in ast.iter_child_nodes(node):
        yield from _stored_names(child)


def _bind(names: dict[str, Binding], statement: ast.stmt) -> None:
    """Record what a top-level statement binds (as `exec` would, without running it)."""
    if isinstance(statement, ast.Import):
        for alias in statement.names:
            if alias.asname:
                names[alias.asname] = ("module", alias.name, statement.lineno)
            else:
                top = alias.name.split(".")[0]
                names[top] = ("module", top, statement.lineno)
    elif isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
        for alias in statement.names:
            if alias.name == "*":
                exported = getattr(_MODULES.get(statement.module), "__all__", None)
                if exported is None:
                    names["*"] = ("other", statement.lineno)
                for name in exported or ():
                    names[name] = ("attr", statement.module, name, statement.lineno)
            else:
                names[alias.asname or alias.name] = (
                    "attr",
                    statement.module,
                    alias.name,
                    statement.lineno,
                )
    elif isinstance(statement, ast.FunctionDef):
        names[statement.name] = ("def", statement)
    else:
        for name, line in _stored_names(statement):
            names[name] = ("other", line)


class _Reader:
    """Evaluates one function's annotations against the allow-list."""

    def __init__(self, module: _Module, ref: str, names: dict[str, Binding]) -> None:
        self.module, self.ref, self.names = module, ref, names
        self.subject = ""
        self.whole: ast.expr | None = None
        self.text = "".join(module.lines)

    def fail(self, node: ast.AST, what: str, hint: str) -> TeamCodeError:
        return TeamCodeError(f"{what} ({self.module.at(node)})", hint)

    def unknown(self, node: ast.AST) -> TeamCodeError:
        whole = self.whole or node
        text = ast.get_source_segment(self.text, whole) or ast.dump(whole)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.fail(
                node,
                f"{self.subject} of {self.ref} is annotated with the string {text}",
                "write the type itself, without quotes: kfp reads the types, not their names",
            )
        part = ast.get_source_segment(self.text, node)
        which = f": {part} is not allowed" if whole is not node and part else ""
        return self.fail(
            node,
            f"{self.subject} of {self.ref} is annotated {text}, not a type a step may use{which}",
            f"annotations are read without running the module; use {_ALLOWED_TEXT}",
        )

    def read(self, subject: str, node: ast.expr) -> Any:
        """The value of a whole annotation (of an argument, or of the return value)."""
        self.subject, self.whole = subject, node
        return self.annotation(node)

    def value(self, node: ast.expr) -> Any:
        """The module, or allowed object, that a name or dotted name refers to."""
        if isinstance(node, ast.Name):
            binding = self.names.get(node.id)
            if binding is None:
                if "*" in self.names or node.id not in _BUILTIN_TYPES:
                    raise self.unknown(node)
                return _BUILTIN_TYPES[node.id]
            if binding[0] == "module" and binding[1] in _MODULES:
                return _MODULES[binding[1]]
            if binding[0] == "attr":
                dotted = f"{binding[1]}.{binding[2]}"
                if dotted in _MODULES:
                    return _MODULES[dotted]
                if (binding[1], binding[2]) in _TYPES:
                    return _TYPES[binding[1], binding[2]]
            raise self.unknown(node)
        if isinstance(node, ast.Attribute):
            owner = self.value(node.value)
            name = next((n for n, m in _MODULES.items() if m is owner), None)
            if name is not None:
                if f"{name}.{node.attr}" in _MODULES:
                    return _MODULES[f"{name}.{node.attr}"]
                if (name, node.attr) in _TYPES:
                    return _TYPES[name, node.attr]
        raise self.unknown(node)

    def annotation(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and node.value is None:
            return None
        if isinstance(node, ast.Name | ast.Attribute):
            found = self.value(node)
            if any(found is m for m in _MODULES.values()):
                raise self.unknown(node)
            return found
        if isinstance(node, ast.Subscript):
            generic = self.value(node.value)
            if id(generic) not in _GENERICS:
                raise self.unknown(node)
            inner = node.slice
            if isinstance(inner, ast.Tuple):
                return generic[tuple(self.annotation(e) for e in inner.elts)]
            return generic[self.annotation(inner)]
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.unknown(node)

    def call(self, node: ast.Call) -> Any:
        made = self.value(node.func)
        if id(made) in _PATH_MARKERS and len(node.args) == 1 and not node.keywords:
            (arg,) = node.args
            return made(arg.value if isinstance(arg, ast.Constant) else self.annotation(arg))
        if made is typing.NamedTuple and node.args and isinstance(node.args[0], ast.Constant):
            title = node.args[0].value
            if isinstance(title, str) and len(node.args) == 2 and not node.keywords:
                listed = node.args[1]
                if isinstance(listed, ast.List | ast.Tuple):
                    fields = [self.named_field(f) for f in listed.elts]
                    return self.named(typing.NamedTuple(title, fields))
            if isinstance(title, str) and len(node.args) == 1:
                named = {k.arg: self.annotation(k.value) for k in node.keywords if k.arg}
                if len(named) == len(node.keywords):
                    return self.named(typing.NamedTuple(title, **named))
        raise self.unknown(node)

    def named(self, made: Any) -> Any:
        made.__module__ = self.module.name  # as the module's own call would name it
        return made

    def named_field(self, node: ast.expr) -> tuple[str, Any]:
        if (
            isinstance(node, ast.Tuple)
            and len(node.elts) == 2
            and isinstance(node.elts[0], ast.Constant)
            and isinstance(node.elts[0].value, str)
        ):
            return node.elts[0].value, self.annotation(node.elts[1])
        raise self.unknown(node)

    def default(self, argument: str, node: ast.expr) -> Any:
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            text = ast.get_source_segment(self.text, node) or "?"
            raise self.fail(
                node,
                f"the default of argument '{argument}' of {self.ref} is not a literal: {text}",
                "defaults are read without running the module: write a constant (a number, "
                "string, True, False, None, or a list or dict of them)",
            ) from None


_BUILTIN_TYPES = {name: _TYPES["builtins", name] for module, name in _TYPES if module == "builtins"}


def _make_function(
    module: _Module, ref: str, node: ast.FunctionDef, names: dict[str, Binding]
) -> Callable[..., Any]:
    """The function of a `def`, made without running any of the module's code."""
    reader = _Reader(module, ref, names)
    if node.decorator_list:
        raise reader.fail(
            node.decorator_list[0],
            f"{ref} has a decorator, which the compiler does not run",
            "remove it: a step runs the function's own source, without its decorators",
        )
    args = node.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        params.insert(len(args.posonlyargs) + len(args.args), args.vararg)
    if args.kwarg:
        params.append(args.kwarg)
    annotations: dict[str, Any] = {}
    for param in params:
        if param.annotation is not None:
            annotations[param.arg] = reader.read(f"argument '{param.arg}'", param.annotation)
    if node.returns is not None:
        annotations["return"] = reader.read("the return value", node.returns)
    positional = [*args.posonlyargs, *args.args]
    defaults = tuple(
        reader.default(p.arg, d)
        for p, d in zip(
            positional[-len(args.defaults) :] if args.defaults else [], args.defaults, strict=True
        )
    )
    kwdefaults = {
        p.arg: reader.default(p.arg, d)
        for p, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
        if d is not None
    }
    # The bare `def`: no decorators, annotations or defaults left to evaluate.
    bare_args = ast.arguments(
        posonlyargs=[ast.arg(arg=a.arg) for a in args.posonlyargs],
        args=[ast.arg(arg=a.arg) for a in args.args],
        vararg=ast.arg(arg=args.vararg.arg) if args.vararg else None,
        kwonlyargs=[ast.arg(arg=a.arg) for a in args.kwonlyargs],
        kw_defaults=[None] * len(args.kwonlyargs),
        kwarg=ast.arg(arg=args.kwarg.arg) if args.kwarg else None,
        defaults=[],
    )
    bare = ast.FunctionDef(
        name=node.name, args=bare_args, body=node.body, decorator_list=[], returns=None
    )
    ast.copy_location(bare, node)
    ast.fix_missing_locations(bare)
    try:  # compiling is not running: errors the parser leaves to the compiler show here
        compiled = compile(
            ast.Module(body=[bare], type_ignores=[]), module.filename, "exec", dont_inherit=True
        )
    except SyntaxError as exc:
        raise _syntax_error(module.name, exc) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise TeamCodeError(f"{ref} cannot be compiled: {type(exc).__name__}: {exc}") from None
    code = next(c for c in compiled.co_consts if isinstance(c, CodeType) and c.co_name == node.name)
    func = FunctionType(code, {"__name__": module.name, "__builtins__": builtins}, node.name)
    func.__defaults__ = defaults or None
    func.__kwdefaults__ = kwdefaults or None
    func.__annotations__ = annotations
    return func


def _top_level_functions(module: _Module) -> list[str]:
    return [s.name for s in module.tree.body if isinstance(s, ast.FunctionDef)]


def load_function(ref: str) -> Callable[..., Any]:
    """The function named by 'module:function', read from its module's source.

    Nothing of the module runs: not its top level, its decorators or its defaults. The
    result has the signature, annotations, docstring and source of the `def`, made once per
    version of the file."""
    module_name, _, func_name = ref.partition(":")
    module = read_module(module_name)
    found = module.functions.get(func_name)
    if found is None:
        try:
            found = _find(module, ref, func_name)
        except TeamCodeError as exc:
            found = exc
        module.functions[func_name] = found
    if isinstance(found, TeamCodeError):
        raise found
    return found


def _find(module: _Module, ref: str, func_name: str) -> Callable[..., Any]:
    names: dict[str, Binding] = {}
    made: tuple[ast.FunctionDef, dict[str, Binding]] | None = None
    for statement in module.tree.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == func_name:
            made = (statement, dict(names))  # the names its annotations see
        _bind(names, statement)
    binding = names.get(func_name)
    if binding is None:
        raise TeamCodeError(
            f"module '{module.name}' has no function '{func_name}'",
            did_you_mean(func_name, _top_level_functions(module)),
        )
    if binding[0] != "def" or made is None or binding[1] is not made[0]:
        line = binding[1].lineno if binding[0] == "def" else binding[-1]
        raise TeamCodeError(
            f"'{ref}' is not a function defined with 'def' at the top level of its module "
            f"(see {_display_path(module.filename)}:{line})",
            "point at a plain function defined with 'def' and not assigned again",
        )
    return _make_function(module, ref, made[0], made[1])


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
