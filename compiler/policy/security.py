"""Organisation policies and the security baseline of one environment, in one call.

`mlplat check` and `mlplat deploy` use `check_environment`: the organisation policies come
from the frontend (G codes, checked on the IR); the baseline (S codes) runs on the plan
that the Pulumi program registers under mocks (compiler/plan) and on the compiled
pipelines. `mlplat plan` runs the baseline on the plan it already has (`baseline_findings`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from compiler.build import BuildOptions
from compiler.cache import BuildCache
from compiler.config_layout import CLI_FILE
from compiler.diagnostics import Diagnostic, Span, has_errors
from compiler.frontend import FrontendResult
from compiler.plan.model import Plan
from compiler.policy.baseline import Locate, check_baseline
from compiler.yaml_source import Path_

Progress = Callable[[str], None]
POLICY_PREFIXES = ("G", "S")
"""Diagnostic codes of policy findings: organisation policies and the security baseline."""


def locator(result: FrontendResult) -> Locate:
    """Config path → span in the configs of `result` (the configs' root when not written)."""
    sources = result.sources
    root = sources.locate(()) or Span(CLI_FILE)

    def locate(path: Path_, at_key: bool) -> Span:
        return sources.locate(path, at_key=at_key) or root

    return locate


def is_policy_finding(diagnostic: Diagnostic) -> bool:
    return diagnostic.code.startswith(POLICY_PREFIXES)


def baseline_findings(
    result: FrontendResult,
    plan: Plan,
    pipelines: Mapping[str, str | bytes] | None,
    cache: BuildCache | None = None,
    jobs: int = 1,
    facts: Mapping[str, dict[str, Any]] | None = None,
) -> list[Diagnostic]:
    """The security baseline on `plan` and the compiled `pipelines` (`facts`: their pod
    facts, `policy.pods.pipeline_facts`, when the caller has them)."""
    assert result.ir is not None
    return check_baseline(plan, result.ir, locator(result), pipelines, cache, jobs, facts)


@dataclass
class CheckOutcome:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Organisation policy findings, then what stopped the baseline (if anything), then the
    baseline's findings."""
    baseline_ran: bool = False
    plan: Plan | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def check_environment(
    result: FrontendResult,
    progress: Progress = lambda _m: None,
    compiled: Mapping[str, str | bytes] | None = None,
    options: BuildOptions | None = None,
) -> CheckOutcome:
    """Organisation policies and the baseline for a frontend result.

    Without an IR (the specs do not validate) only the frontend's diagnostics come back.
    `compiled` are the compile outputs when the caller has them already (deploy).
    """
    outcome = CheckOutcome(diagnostics=list(result.diagnostics))
    ir = result.ir
    if ir is None:
        return outcome
    if compiled is None:
        started = time.perf_counter()
        from compiler.build import compile_files

        built = compile_files(result, progress, options)
        outcome.seconds["compile"] = time.perf_counter() - started
        outcome.diagnostics.extend(built.diagnostics)
        if has_errors(built.diagnostics):
            return outcome
        compiled = built.files
    progress("running the Pulumi program under mocks ...")
    started = time.perf_counter()
    from compiler.plan.sharded import plan_or_failure

    options = options or BuildOptions()
    plan = plan_or_failure(ir, options.cache, options.jobs, progress)
    if isinstance(plan, Diagnostic):
        outcome.diagnostics.append(plan)
        return outcome
    outcome.plan = plan
    outcome.seconds["program"] = time.perf_counter() - started
    started = time.perf_counter()
    outcome.diagnostics.extend(
        baseline_findings(result, plan, compiled, options.cache, options.jobs)
    )
    outcome.baseline_ran = True
    outcome.seconds["baseline"] = time.perf_counter() - started
    return outcome
