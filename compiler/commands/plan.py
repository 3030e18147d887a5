"""`mlplat plan`: run the Pulumi program under mocks and write the review of what changes.

Writes `build/<env>/` (compile outputs, plan.json, changes.json, manifests/, report.md) and
compares with `--base` (a git revision, default the merge base with main, or an earlier
build folder). Needs no cloud account and no Pulumi CLI. Security baseline errors on the
plan are listed in the report, which is still written, and make the command fail.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.cli import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    Console,
    add_build_args,
    add_common_args,
    build_options,
    overrides_of,
    run_frontend,
)
from compiler.diagnostics import has_errors

if TYPE_CHECKING:
    from compiler.frontend import FrontendResult
    from compiler.plan.outputs import PlanOutcome


def run(args: argparse.Namespace, console: Console) -> int:
    started = time.perf_counter()
    result, frontend_seconds = run_frontend(args, console)
    if not result.ok:
        console.diagnostics(result.diagnostics)
        return EXIT_INVALID
    console.progress("loading Pulumi ...")
    from compiler.plan.baseline import BaselineError, resolve_baseline
    from compiler.plan.outputs import plan_outputs

    options = build_options(args)
    baseline_started = time.perf_counter()
    try:
        baseline = resolve_baseline(
            args.base,
            Path(args.configs),
            overrides_of(args),
            progress=console.progress,
            options=options,
        )
    except BaselineError as exc:
        console.diagnostics([*result.diagnostics, exc.diagnostic])
        return EXIT_USAGE
    baseline_seconds = time.perf_counter() - baseline_started
    outcome = plan_outputs(
        result, baseline, Path(args.build_dir), progress=console.progress, options=options
    )
    phases = f"validate {frontend_seconds:.1f}s, baseline {baseline_seconds:.1f}s"
    return report(console, result, outcome, baseline.label, phases, started)


def report(
    console: Console,
    result: FrontendResult,
    outcome: PlanOutcome,
    against: str,
    phases: str,
    started: float,
) -> int:
    """Diagnostics, where the time went and the result line of a plan; its exit code."""
    console.diagnostics([*result.diagnostics, *outcome.diagnostics, *outcome.security])
    if has_errors(outcome.diagnostics):
        return EXIT_INVALID
    seconds = time.perf_counter() - started
    console.step(f"time: {phases}, {outcome.timings()}")
    insecure = has_errors(outcome.security)
    console.result(
        f"{'failed' if insecure else 'ok'}: wrote {outcome.target}/ ({outcome.summary()}) "
        f"against {against} in {seconds:.1f}s; review {outcome.target}/report.md"
        + (" (security baseline errors above)" if insecure else "")
    )
    return EXIT_INVALID if insecure else EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "plan", help="plan the cloud resources of ENV and write build/<env>/report.md"
    )
    add_common_args(parser)
    add_build_args(parser)
    add_base_arg(parser)
    parser.set_defaults(func=run)


def add_base_arg(parser: argparse.ArgumentParser, when: str = "") -> None:
    parser.add_argument(
        "--base",
        metavar="REF|DIR",
        help="baseline: a git revision whose configs/ are planned, or an earlier build folder "
        f"with plan.json (default: the merge base of HEAD with main){when}",
    )
