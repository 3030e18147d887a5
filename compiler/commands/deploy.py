"""`mlplat deploy`: validate, compile, check, then deploy the environment to its target.

Nothing is deployed while an organisation policy or the security baseline (run on the plan
of the Pulumi program under mocks, as `mlplat check` does) reports an error.

`local` deploys the embedded platform on this machine (compiler/deploy/local); cloud
targets run the Pulumi program and upload pipelines (compiler/deploy/cloud).
"""

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
    build_dir = Path(args.build_dir)
    options = build_options(args)
    outcome = compile_outputs(result, build_dir, progress=console.progress, options=options)
    console.diagnostics([*result.diagnostics, *outcome.diagnostics])
    if has_errors(outcome.diagnostics):
        return EXIT_INVALID
    console.step(f"compiled {outcome.target}/ ({outcome.summary})")
    from compiler.policy.security import check_environment

    checked = check_environment(result, console.progress, compiled=outcome.files, options=options)
    security = checked.diagnostics[len(result.diagnostics) :]
    if not checked.ok:
        console.diagnostics(security)
        console.result(
            "refused: nothing was deployed; fix the policy and security baseline errors "
            "above (`mlplat check` lists them)"
        )
        return EXIT_INVALID
    console.diagnostics(security)
    console.step("checked organisation policies and the security baseline: no errors")
    ir = result.ir
    if ir.target == "local":
        from compiler.deploy.local.deploy import deploy_local
        from compiler.team_packages import code_beside

        state_dir = Path(args.state_dir) if args.state_dir else None
        with code_beside(result.composed.configs_dir):  # the code compile_outputs read
            return deploy_local(result, build_dir=build_dir, state_dir=state_dir, console=console)
    try:
        from compiler.deploy.cloud import deploy_cloud
    except ImportError as exc:
        return usage_error(f"deploying to target '{ir.target}' is not available here ({exc})")
    return int(
        deploy_cloud(
            result,
            build_dir=build_dir,
            console=console,
            allow_destroy=args.allow_destroy,
            yes=args.yes,
        )
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "deploy",
        help="validate, compile and deploy ENV (local: pipelines, registry, endpoints here)",
    )
    add_common_args(parser)
    add_build_args(parser)
    parser.add_argument(
        "--state-dir",
        help="local target: state folder (default: .mlplat/<env>)",
    )
    parser.add_argument(
        "--allow-destroy",
        action="store_true",
        help="cloud targets: allow changes that delete or replace protected resources",
    )
    parser.add_argument(
        "--yes", action="store_true", help="cloud targets: do not ask before applying changes"
    )
    parser.set_defaults(func=run)
