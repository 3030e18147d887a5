"""The example organisation checked once per session: its frontend result (for locations),
its compiled pipelines and its plan under mocks, per environment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from compiler.build import compile_files
from compiler.diagnostics import Diagnostic
from compiler.frontend import FrontendResult, load_platform
from compiler.plan.model import Plan
from tests.conftest import CONFIGS
from tests.platform_iac.planning import VARIANT, plan_for

ENVIRONMENTS = {"local": (), "dev": (), "prod": (), "variant": ("env=dev", *VARIANT)}


@dataclass(frozen=True)
class Example:
    result: FrontendResult
    pipelines: dict[str, str | bytes]
    plan: Plan


@cache
def example(name: str) -> Example:
    overrides = ENVIRONMENTS[name] or (f"env={name}",)
    result = load_platform(CONFIGS, list(overrides))
    assert result.ok, [d.render() for d in result.diagnostics]
    compiled = compile_files(result)
    assert not compiled.diagnostics
    env, *rest = overrides
    return Example(result, compiled.files, plan_for(env.removeprefix("env="), tuple(rest)))


def first_line(diagnostic: Diagnostic) -> str:
    """`file:line:col: severity[CODE]: message`, the file relative to the configs folder."""
    file = Path(diagnostic.span.file).resolve().relative_to(CONFIGS).as_posix()
    span = diagnostic.span
    return f"{file}:{span.line}:{span.col}: {diagnostic.severity.value}[{diagnostic.code}]: {diagnostic.message}"
