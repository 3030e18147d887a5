"""Produce `build/<env>/` from a valid frontend result: the IR dump plus every backend's output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.buildout import write_tree
from compiler.cache import BuildCache
from compiler.diagnostics import Diagnostic, has_errors
from compiler.features.repo import render_repo
from compiler.frontend import FrontendResult
from compiler.team_packages import code_beside

Progress = Callable[[str], None]


@dataclass
class CompileOutcome:
    target: Path
    files: dict[str, bytes | str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    pod_facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The pod facts (compiler/pod_facts.py) of the pipelines compiled (not cached) here."""

    @property
    def summary(self) -> str:
        return f"{len(self.files)} files"


@dataclass(frozen=True)
class BuildOptions:
    """How to produce outputs; never what they contain (same bytes whatever the options)."""

    cache: BuildCache = field(default_factory=lambda: BuildCache(None))
    jobs: int = 1


def compile_files(
    result: FrontendResult,
    progress: Progress = lambda _m: None,
    options: BuildOptions | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> CompileOutcome:
    """Every compile output of one environment, in memory (relative path → content).

    While the pipelines compile on the workers, this process writes ir.json and runs
    `meanwhile` (work of the caller that does not need the compiled pipelines)."""
    assert result.ir is not None
    ir = result.ir
    options = options or BuildOptions()
    progress("loading the Kubeflow Pipelines SDK ...")
    from compiler.kfp_backend import compile_all  # imports kfp: only when compiling

    outcome = CompileOutcome(target=Path())

    def alongside() -> None:
        outcome.files["ir.json"] = ir.canonical_json(options.cache)
        if meanwhile is not None:
            meanwhile()

    configs = result.composed.configs_dir if result.composed else Path("configs")
    with code_beside(configs):  # the step code of this configuration repository
        pipelines, diagnostics = compile_all(
            ir,
            result.sources.locate,
            progress,
            cache=options.cache,
            jobs=options.jobs,
            meanwhile=alongside,
            facts=outcome.pod_facts,
        )
    outcome.files.update(pipelines)
    outcome.files.update(render_repo(ir))
    outcome.diagnostics.extend(diagnostics)
    return outcome


def compile_outputs(
    result: FrontendResult,
    build_dir: Path,
    progress: Progress = lambda _m: None,
    options: BuildOptions | None = None,
) -> CompileOutcome:
    """Compile and, when nothing failed, atomically replace `build/<env>/`."""
    assert result.ir is not None
    outcome = compile_files(result, progress, options)
    outcome.target = build_dir / result.ir.environment
    if not has_errors(outcome.diagnostics):
        write_tree(outcome.target, outcome.files)
    return outcome
