"""How local commands talk: progress lines as work happens, problems as diagnostics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from compiler.cli import Console
from compiler.deploy.local.serving import curl_line, example_request
from compiler.deploy.local.state import EndpointRecord, LocalState
from compiler.diagnostics import Diagnostic, Span, render_text
from compiler.yaml_source import Locator, SourceMap


class Reporter:
    """Progress on stderr as it happens; each problem rendered the moment it is found."""

    def __init__(self, console: Console, sources: Locator | None = None) -> None:
        self.console = console
        self.sources: Locator = sources if sources is not None else SourceMap()
        self.diagnostics: list[Diagnostic] = []

    def step(self, message: str) -> None:
        self.console.step(message)

    def progress(self, message: str) -> None:
        self.console.progress(message)

    def span(self, path: Sequence[str]) -> Span:
        return self.sources.locate(tuple(path)) or Span("<configs>")

    def problem(self, diag: Diagnostic) -> None:
        self.diagnostics.append(diag)
        if self.console.fmt == "text":
            self.console.done()
            text = render_text([diag], root=Path.cwd(), color=self.console.color)
            self.console.err.write(text + "\n")
            self.console.err.flush()

    @property
    def errors(self) -> int:
        return sum(d.is_error for d in self.diagnostics)


def metrics_summary(metrics: dict[str, int | float], first: list[str], count: int = 3) -> str:
    """A few metrics for one line: those named in `first` (the model card's) lead."""
    names = [n for n in first if n in metrics]
    names += [n for n in sorted(metrics) if n not in names]
    return ", ".join(f"{n}={shown_number(metrics[n])}" for n in names[:count])


def shown_number(value: int | float) -> str:
    """An int as written (2000), a float to three significant digits (0.912)."""
    return str(value) if isinstance(value, int) else f"{value:.3g}"


def endpoint_lines(state: LocalState) -> list[str]:
    """The serving endpoints with their URL and model version, then a curl line for each."""
    serving = [
        (key, rec) for key, rec in sorted(state.endpoints.items()) if rec.status == "serving"
    ]
    if not serving:
        return []
    width = max(len(key) for key, _ in serving)
    lines = ["endpoints:"]
    for key, rec in serving:
        lines.append(f"  {key:<{width}}  {rec.url}  ({rec.registry_name} v{rec.version})")
    curls = [line for _, rec in serving if (line := curl_for(state, rec))]
    if curls:
        lines.append("try:")
        lines.extend(f"  {line}" for line in curls)
    return lines


def curl_for(state: LocalState, rec: EndpointRecord) -> str | None:
    if rec.url is None or rec.version is None:
        return None
    model = next((m for m in state.models.values() if m.registry_name == rec.registry_name), None)
    version = model.get(rec.version) if model else None
    request = rec.request or (example_request(version) if version else None)
    return curl_line(rec.url, request) if request else None
