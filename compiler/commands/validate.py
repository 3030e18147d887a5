"""`mlplat validate`: compose and check the specs; writes nothing."""

from __future__ import annotations

import argparse

from compiler.cli import (
    EXIT_INVALID,
    EXIT_OK,
    Console,
    add_build_args,
    add_common_args,
    describe_ir,
    run_frontend,
)


def run(args: argparse.Namespace, console: Console) -> int:
    result, seconds = run_frontend(args, console)
    console.diagnostics(result.diagnostics)
    if not result.ok:
        return EXIT_INVALID
    ir = result.ir
    console.result(
        f"ok: environment '{ir.environment}' is valid ({describe_ir(ir)}) in {seconds:.2f}s"
    )
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate", help="compose and validate the specs (no build outputs; reuses build/.cache)"
    )
    add_common_args(parser)
    add_build_args(parser)
    parser.set_defaults(func=run)
