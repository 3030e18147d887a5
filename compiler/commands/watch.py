"""`mlplat watch`: plan ENV now and again after every change to configs/ or to steps' code.

For the edit loop on a large organisation: kfp, Pulumi and the decoded cache stay loaded
between builds, and each build rewrites only the files that changed. Every build prints
the same diagnostics and result line as `mlplat plan`; Ctrl-C stops watching.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path

from compiler.cli import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    Console,
    add_build_args,
    add_common_args,
    build_options,
    overrides_of,
    tune_gc,
    usage_error,
)


def run(args: argparse.Namespace, console: Console) -> int:
    from compiler.commands.plan import report
    from compiler.plan.baseline import BaselineError, resolve_baseline
    from compiler.plan.outputs import plan_outputs
    from compiler.plan.report import Baseline
    from compiler.watch import WatchSession, forget_modules, snapshot, wait_for_change

    configs = Path(args.configs)
    if not configs.is_dir():
        return usage_error(f"configs folder '{configs}' does not exist")
    if args.interval <= 0:
        return usage_error("--interval must be a positive number of seconds")
    console.progress("loading Kubeflow Pipelines and Pulumi ...")
    import platform_iac.program  # noqa: F401  - loaded once for every build
    from compiler.kfp_backend.compile import forget_code_layout

    tune_gc()
    session = WatchSession(configs, overrides_of(args), Path(args.build_dir), build_options(args))
    baseline: Baseline | None = None
    code, builds, changes = EXIT_OK, 0, ["(start)"]
    seen = snapshot(session.roots)
    while True:
        started = time.perf_counter()
        shown = ", ".join(Path(p).name for p in changes[:3])
        more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
        console.step(f"watch: building after {shown}{more}")
        roots = set(session.roots)
        result = session.frontend()
        frontend_seconds = time.perf_counter() - started
        seen.update(snapshot(session.roots - roots))  # steps' code found by this build
        if not result.ok:
            console.diagnostics(result.diagnostics)
            console.result("failed: specs invalid; fix them and save, build/ is unchanged")
            code = EXIT_INVALID
        else:
            if baseline is None:
                try:
                    baseline = resolve_baseline(
                        args.base,
                        configs,
                        session.overrides,
                        progress=console.progress,
                        options=session.options,
                    )
                except BaselineError as exc:
                    console.diagnostics([exc.diagnostic])
                    return EXIT_USAGE
            target = session.build_dir / result.ir.environment  # type: ignore[union-attr]
            outcome = plan_outputs(
                result,
                baseline,
                session.build_dir,
                progress=console.progress,
                options=session.options,
                previous=session.previous_files(target),
            )
            code = report(
                console, result, outcome, baseline.label, f"validate {frontend_seconds:.1f}s",
                started,
            )  # fmt: skip
            if "write" in outcome.seconds:
                session.wrote(outcome.target, outcome.files)
            session.warm_up(result.ir)  # type: ignore[arg-type]
        builds += 1
        if args.builds and builds >= args.builds:
            return code
        console.step(f"watch: waiting for changes under {watched(session.roots)}")
        seen, changes = wait_for_change(lambda: session.roots, seen, args.interval)
        if any(p.endswith(".py") for p in changes):  # step code edited, added or removed
            forget_modules(changes)
            forget_code_layout()


def register(sub: argparse._SubParsersAction) -> None:
    from compiler.commands.plan import add_base_arg

    parser = sub.add_parser(
        "watch", help="plan ENV, then again whenever configs/ or steps' code change (Ctrl-C stops)"
    )
    add_common_args(parser)
    add_build_args(parser)
    add_base_arg(parser, "; resolved once, when watching starts")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.3,
        metavar="SECONDS",
        help="how often files are polled for changes (default: 0.3)",
    )
    parser.add_argument(
        "--builds",
        type=int,
        default=0,
        metavar="N",
        help="stop after N builds and exit with the last build's status (default: never)",
    )
    parser.set_defaults(func=run)


def watched(roots: Iterable[object], shown: int = 3) -> str:
    """The folders watched, in one line: the first few, and how many more (a large
    organisation's step code spans thousands of folders)."""
    names = sorted(map(str, roots))
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more:,} more folders" if more > 0 else "")
