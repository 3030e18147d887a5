"""Findings of the KFP backend, before they get a source span.

The backend never reads YAML. It names the place of a problem by its config path, which
mirrors the IR one-to-one (`teams.<team>.pipelines.<pipeline>.steps.<step>...`); the caller
turns that path into a file, line and column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from compiler.diagnostics import Diagnostic, Span, error
from compiler.ir import Pipeline

ConfigPath = tuple[str | int, ...]
Locate = Callable[[ConfigPath], Span | None]

REPORT_HINT = "mlplat's checks missed this; please report it together with the spec"


@dataclass(frozen=True, slots=True)
class Problem:
    """A pipeline mistake only the backend can see (types, team code), at a config path."""

    code: str
    message: str
    path: ConfigPath
    hint: str | None = None

    def diagnostic(self, locate: Locate) -> Diagnostic:
        span = locate(self.path) or locate(()) or Span("<config>")
        return error(self.code, self.message, span, self.hint)


class PipelineError(Exception):
    """Raised by `build_pipeline` when a pipeline cannot be built; carries every problem."""

    def __init__(self, pipeline: Pipeline, problems: Iterable[Problem]) -> None:
        self.pipeline = pipeline
        self.problems = tuple(problems)
        lines = "; ".join(p.message for p in self.problems)
        super().__init__(f"pipeline '{pipeline.team}/{pipeline.name}' cannot be built: {lines}")


def pipeline_path(pipeline: Pipeline, *rest: str | int) -> ConfigPath:
    return ("teams", pipeline.team, "pipelines", pipeline.name, *rest)


def step_path(pipeline: Pipeline, step: str, *rest: str | int) -> ConfigPath:
    return pipeline_path(pipeline, "steps", step, *rest)
