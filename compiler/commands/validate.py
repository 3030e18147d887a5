"""`mlplat validate`: compose and check the specs; writes nothing.

Without an environment (or with `--env all`) every environment is validated, each problem
reported once: a change that breaks only one of them fails here, not at its deploy."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

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
    overrides_of,
    run_frontend,
    tune_gc,
)
from compiler.verdict import Verdict, recall, remember, verdict_key

if TYPE_CHECKING:
    from compiler.cache import BuildCache
    from compiler.ir import PlatformIR


def run(args: argparse.Namespace, console: Console) -> int:
    started = time.perf_counter()
    names = environments_of(args, default_all=True)
    configs = Path(args.configs)
    cache = cache_of(args) if configs.is_dir() else None
    overrides = list(args.overrides or []) if names is not None else overrides_of(args)
    key = verdict_key(configs, names or ["<one>"], overrides) if cache is not None else ""
    known = recall(cache, key)
    if known is not None:  # nothing it read changed since a validation without errors
        console.diagnostics(known.diagnostics)
        return report_ok(console, names, known.shapes, time.perf_counter() - started)
    if names is not None:
        return run_many(args, console, names, cache, key, started)
    result, _seconds = run_frontend(args, console)
    console.diagnostics(result.diagnostics)
    if not result.ok:
        return EXIT_INVALID
    ir = result.ir
    shapes = {ir.environment: describe_ir(ir)}
    remember(cache, key, Verdict(result.diagnostics, shapes), sources_read([ir]))
    return report_ok(console, None, shapes, time.perf_counter() - started)


def sources_read(irs: list[PlatformIR]) -> list[str]:
    """Repository files the specs named and validation read (feature sources' columns)."""
    return [
        source.path
        for ir in irs
        for team in ir.teams.values()
        for source in team.sources.values()
        if source.path is not None
    ]


def run_many(
    args: argparse.Namespace,
    console: Console,
    names: list[str],
    cache: BuildCache | None = None,
    key: str = "",
    started: float | None = None,
) -> int:
    """Every environment of `names`, one report."""
    from compiler.frontend import load_environments

    tune_gc()
    started = time.perf_counter() if started is None else started
    console.progress(f"validating {args.configs}/ in {', '.join(names)} ...")
    outcome = load_environments(
        Path(args.configs),
        names,
        list(args.overrides or []),
        jobs=jobs_of(args),
        cache=cache,
    )
    seconds = time.perf_counter() - started
    console.diagnostics(outcome.diagnostics)
    failed = [name for name, result in outcome.results.items() if not result.ok]
    if not outcome.ok:
        which = f" (invalid: {', '.join(failed)})" if failed else ""
        console.result(f"failed: {len(names)} environments checked{which} in {seconds:.2f}s")
        return EXIT_INVALID
    irs = [result.ir for result in outcome.results.values() if result.ir is not None]
    shapes = {ir.environment: describe_ir(ir) for ir in irs}
    remember(cache, key, Verdict(outcome.diagnostics, shapes), sources_read(irs))
    return report_ok(console, names, shapes, time.perf_counter() - started)


def report_ok(
    console: Console, names: list[str] | None, shapes: dict[str, str], seconds: float
) -> int:
    """The result line of a valid organisation (one environment when `names` is None)."""
    if names is None:
        ((name, shape),) = shapes.items()
        console.result(f"ok: environment '{name}' is valid ({shape}) in {seconds:.2f}s")
        return EXIT_OK
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
