"""`mlplat compile`: validate, then write `build/<env>/` (IR and compiled pipelines)."""

from __future__ import annotations

import argparse
from pathlib import Path

from compiler.cli import (
    EXIT_INVALID,
    EXIT_OK,
    Console,
    add_build_args,
    add_common_args,
    build_options,
    run_frontend,
)
from compiler.diagnostics import has_errors


def run(args: argparse.Namespace, console: Console) -> int:
    from compiler.build import compile_outputs

    result, _ = run_frontend(args, console)
    if not result.ok:
        console.diagnostics(result.diagnostics)
        return EXIT_INVALID
    outcome = compile_outputs(
        result, Path(args.build_dir), progress=console.progress, options=build_options(args)
    )
    console.diagnostics([*result.diagnostics, *outcome.diagnostics])
    if has_errors(outcome.diagnostics):
        return EXIT_INVALID
    console.result(f"ok: wrote {outcome.target}/ ({outcome.summary})")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("compile", help="validate and write build/<env>/ (IR, pipelines)")
    add_common_args(parser)
    add_build_args(parser)
    parser.set_defaults(func=run)
