"""`mlplat plan`: run the Pulumi program under mocks and write the review of what changes.

Writes `build/<env>/` (compile outputs, plan.json, changes.json, manifests/, report.md) and
compares with `--base` (a git revision, default the merge base with main, or an earlier
build folder). Needs no cloud account and no Pulumi CLI. Security baseline errors on the
plan are listed in the report, which is still written, and make the command fail.

`--env changed` plans every environment the change since `--base` reaches (`--env all`:
every environment) and writes one review of them all, `build/report.md`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
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
    environments_of,
    overrides_of,
    run_frontend,
)
from compiler.diagnostics import has_errors

if TYPE_CHECKING:
    from compiler.frontend import FrontendResult
    from compiler.plan.outputs import PlanOutcome


COMBINED_REPORT = "report.md"
"""The review of several environments, in the build folder (each has its own in build/<env>/)."""


def run(args: argparse.Namespace, console: Console) -> int:
    names = environments_of(args)
    if names is not None:
        return run_many(args, console, names)
    return plan_one(args, console)[0]


def run_many(args: argparse.Namespace, console: Console, names: list[str]) -> int:
    """Plan each environment of `names`; one review (build/report.md) and, with --format
    json, one document of every environment's diagnostics."""
    from compiler.cli import ALL_ENVIRONMENTS
    from compiler.config_layout import environments
    from compiler.plan.combined import EnvironmentPlan, combine_reports

    if args.env == ALL_ENVIRONMENTS:
        why = dict.fromkeys(names, "--env all")
    else:
        from compiler.reach import environments_reached

        configs = Path(args.configs)
        why = {
            name: f"`{path}` changed"
            for name, path in environments_reached(configs, args.base).items()
        }
    skipped = {
        name: "nothing this change reaches"
        for name in environments(Path(args.configs))
        if name not in why
    }
    console.step(
        f"planning {', '.join(names) if names else 'no environment'}"
        + (f" (not reached: {', '.join(skipped)})" if skipped else "")
    )
    planned: list[EnvironmentPlan] = []
    documents: list[dict[str, object]] = []
    worst = EXIT_OK
    for name in names:
        console.step(f"plan of {name} ({why[name].replace('`', '')}):")
        sub = argparse.Namespace(**{**vars(args), "env": name})
        captured = io.StringIO()
        out = captured if console.fmt == "json" else console.out
        own = Console(console.fmt, console.color, out=out, err=console.err)
        code, report_file = plan_one(sub, own)
        worst = max(worst, code)
        if console.fmt == "json":
            found = json.loads(captured.getvalue() or '{"diagnostics": []}')["diagnostics"]
            documents.extend({**diag, "environment": name} for diag in found)
        text = report_file.read_text(encoding="utf-8") if report_file is not None else None
        planned.append(EnvironmentPlan(name, why[name], text))
    target = Path(args.build_dir) / COMBINED_REPORT
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{COMBINED_REPORT}.{os.getpid()}")
    staging.write_text(combine_reports(planned, skipped), encoding="utf-8")
    os.replace(staging, target)  # never a half-written comment
    if console.fmt == "json":
        console.out.write(json.dumps({"diagnostics": documents}, indent=2, sort_keys=True) + "\n")
    console.result(
        f"{'ok' if worst == EXIT_OK else 'failed'}: planned {len(names)} environment"
        f"{'s' * (len(names) != 1)} ({', '.join(names) or 'none reached'}); review {target}"
    )
    return worst


def plan_one(args: argparse.Namespace, console: Console) -> tuple[int, Path | None]:
    """Plan one environment: its exit code and its report.md when this run wrote one."""
    started = time.perf_counter()
    result, frontend_seconds = run_frontend(args, console)
    if not result.ok:
        console.diagnostics(result.diagnostics)
        return EXIT_INVALID, None
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
        return EXIT_USAGE, None
    baseline_seconds = time.perf_counter() - baseline_started
    outcome = plan_outputs(
        result, baseline, Path(args.build_dir), progress=console.progress, options=options
    )
    phases = f"validate {frontend_seconds:.1f}s, baseline {baseline_seconds:.1f}s"
    code = report(console, result, outcome, baseline.label, phases, started)
    written = outcome.target / "report.md"
    return code, written if "report.md" in outcome.files and written.is_file() else None


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
