"""`mlplat monitor`: drift of every monitored endpoint against its training data, the HTML
report of each, and retraining on drift where the spec asks for it (local target)."""

from __future__ import annotations

import argparse
from pathlib import Path

from compiler.cli import (
    EXIT_INVALID,
    Console,
    add_build_args,
    add_common_args,
    build_options,
    run_frontend,
    usage_error,
)
from compiler.diagnostics import has_errors


def run(args: argparse.Namespace, console: Console) -> int:
    from compiler.build import compile_outputs

    result, _ = run_frontend(args, console)
    if not result.ok:
        console.diagnostics(result.diagnostics)
        return EXIT_INVALID
    ir = result.ir
    if ir.target != "local":
        return usage_error(
            f"mlplat monitor checks the local deployment; in '{ir.environment}' each monitored "
            "endpoint's drift job runs on its schedule in the team namespace"
        )
    build_dir = Path(args.build_dir)
    options = build_options(args)
    outcome = compile_outputs(result, build_dir, progress=console.progress, options=options)
    console.diagnostics([*result.diagnostics, *outcome.diagnostics])
    if has_errors(outcome.diagnostics):
        return EXIT_INVALID

    def deploy_checks(*_: object) -> str | None:
        """What `mlplat deploy` checks before it changes anything, run before a retraining."""
        from compiler.policy.security import check_environment

        checked = check_environment(
            result, console.progress, compiled=outcome.files, options=options
        )
        if checked.ok:
            return None
        console.diagnostics(checked.diagnostics[len(result.diagnostics) :])
        return "the organisation policies or the security baseline report errors"

    from compiler.deploy.local.monitor import monitor_local

    return monitor_local(
        result,
        build_dir=build_dir,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        console=console,
        fail_on_drift=args.fail_on_drift,
        only=args.endpoint or None,
        on_retrain=deploy_checks,
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "monitor",
        help="drift of monitored endpoints against their training data; retrain on drift",
    )
    add_common_args(parser)
    add_build_args(parser)
    parser.add_argument("--state-dir", help="state folder (default: .mlplat/<env>)")
    parser.add_argument(
        "--endpoint",
        action="append",
        metavar="TEAM/NAME",
        help="check only this endpoint (repeatable)",
    )
    parser.add_argument(
        "--fail-on-drift",
        action="store_true",
        help="exit 3 when an endpoint drifted (default: report it and exit 0)",
    )
    parser.set_defaults(func=run)
