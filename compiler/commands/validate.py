"""`mlplat validate`: compose and check the specs; writes nothing.

Without an environment (or with `--env all`) every environment is validated, each problem
reported once: a change that breaks only one of them fails here, not at its deploy."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from compiler.cli import (
    EXIT_INVALID,
    EXIT_OK,
    Console,
    add_build_args,
    add_common_args,
    cache_of,
    describe_ir,
    environments_of,
    jobs_of,
    run_frontend,
    tune_gc,
)


def run(args: argparse.Namespace, console: Console) -> int:
    names = environments_of(args, default_all=True)
    if names is not None:
        return run_many(args, console, names)
    result, seconds = run_frontend(args, console)
    console.diagnostics(result.diagnostics)
    if not result.ok:
        return EXIT_INVALID
    ir = result.ir
    console.result(
        f"ok: environment '{ir.environment}' is valid ({describe_ir(ir)}) in {seconds:.2f}s"
    )
    return EXIT_OK


def run_many(args: argparse.Namespace, console: Console, names: list[str]) -> int:
    """Every environment of `names`, one report."""
    from compiler.frontend import load_environments

    tune_gc()
    started = time.perf_counter()
    console.progress(f"validating {args.configs}/ in {', '.join(names)} ...")
    outcome = load_environments(
        Path(args.configs),
        names,
        list(args.overrides or []),
        jobs=jobs_of(args),
        cache=cache_of(args),
    )
    seconds = time.perf_counter() - started
    console.diagnostics(outcome.diagnostics)
    failed = [name for name, result in outcome.results.items() if not result.ok]
    if not outcome.ok:
        which = f" (invalid: {', '.join(failed)})" if failed else ""
        console.result(f"failed: {len(names)} environments checked{which} in {seconds:.2f}s")
        return EXIT_INVALID
    shapes = {name: describe_ir(result.ir) for name, result in outcome.results.items()}
    described = (
        f"{next(iter(shapes.values()))} each"
        if len(set(shapes.values())) == 1
        else "; ".join(f"{name}: {shape}" for name, shape in shapes.items())
    )
    console.result(f"ok: environments {', '.join(names)} are valid ({described}) in {seconds:.2f}s")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate",
        help="compose and validate the specs of every environment, or of --env ENV "
        "(no build outputs; reuses build/.cache)",
    )
    add_common_args(parser)
    add_build_args(parser)
    parser.set_defaults(func=run)
