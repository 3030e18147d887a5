"""IR → compiled files: one KFP YAML per pipeline, plus a recurring-run file when scheduled."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from kfp import compiler
from kfp.dsl.graph_component import GraphComponent

from compiler.diagnostics import Diagnostic
from compiler.ir import Pipeline, PlatformIR
from compiler.kfp_backend.pipeline import assemble, build_pipeline, resolve_steps
from compiler.kfp_backend.problems import REPORT_HINT, Locate, Problem, pipeline_path
from compiler.kfp_backend.schedule import recurring_run_json, schedule_problems

Progress = Callable[[str], None]


def package_path(pipeline: Pipeline) -> str:
    """Where the compiled pipeline lands, relative to `build/<env>/`."""
    return f"pipelines/{pipeline.team}/{pipeline.name}.yaml"


def schedule_path(pipeline: Pipeline) -> str:
    return f"pipelines/{pipeline.team}/{pipeline.name}.schedule.json"


def to_yaml(graph: GraphComponent) -> str:
    """kfp's compiled YAML of a built pipeline (kfp writes only to files)."""
    with tempfile.TemporaryDirectory(prefix="mlplat-kfp-") as folder:
        target = Path(folder) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline_func=graph, package_path=str(target))
        return target.read_text(encoding="utf-8")


def compile_pipeline(ir: PlatformIR, pipeline: Pipeline) -> str:
    """The compiled KFP YAML of one pipeline; raises `PipelineError` on problems."""
    return to_yaml(build_pipeline(ir, pipeline))


def compile_all(
    ir: PlatformIR, locate: Locate, progress: Progress = lambda _m: None
) -> tuple[dict[str, str], list[Diagnostic]]:
    """Every pipeline of the IR (team, then name order), with diagnostics instead of raising."""
    files: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    pipelines = sorted(ir.pipelines(), key=lambda p: (p.team, p.name))
    for index, pipeline in enumerate(pipelines, start=1):
        progress(f"compiling pipeline {pipeline.team}/{pipeline.name} ({index}/{len(pipelines)})")
        components, problems = resolve_steps(pipeline)
        problems = [*schedule_problems(pipeline), *problems]
        if problems:
            diagnostics.extend(problem.diagnostic(locate) for problem in problems)
            continue
        try:
            text = to_yaml(assemble(ir, pipeline, components))
        except Exception as exc:
            rejected = Problem(
                "E212",
                f"Kubeflow Pipelines rejected pipeline '{pipeline.name}': "
                f"{type(exc).__name__}: {exc}",
                pipeline_path(pipeline),
                REPORT_HINT,
            )
            diagnostics.append(rejected.diagnostic(locate))
            continue
        files[package_path(pipeline)] = text
        if pipeline.schedule is not None:
            files[schedule_path(pipeline)] = recurring_run_json(pipeline, package_path(pipeline))
    return files, diagnostics
