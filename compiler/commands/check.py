"""`mlplat check`: the organisation policies and the security baseline of ENV.

The policies are checked on the IR by the frontend; the baseline runs on the plan the
Pulumi program registers under mocks (no cloud account, no Pulumi CLI),
and on the compiled pipelines. Findings as text, JSON or SARIF 2.1.0 (GitHub code
scanning); exit 1 on any error.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import time
from pathlib import Path

from compiler.cli import (
    EXIT_INVALID,
    EXIT_OK,
    Console,
    add_build_args,
    add_common_args,
    build_options,
    environments_of,
    run_frontend,
)
from compiler.diagnostics import (
    Diagnostic,
    has_errors,
    render_json,
    render_text,
    sort_key,
    summary,
    unique,
)

FORMATS = ("text", "json", "sarif")


def _version() -> str:
    try:
        return importlib.metadata.version("mlplat")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "0"


def _render(fmt: str, diags: list[Diagnostic], args: argparse.Namespace, env: str) -> str:
    if fmt == "json":
        return render_json(diags) + "\n"
    if fmt == "sarif":
        from compiler.policy.sarif import render_sarif, repository_root, to_sarif

        configs = Path(args.configs)
        root = repository_root(configs)
        platform_file = configs / "platform.yaml"
        return render_sarif(
            to_sarif(
                diags,
                root=root,
                fallback_file=str(platform_file),
                category=f"mlplat-check/{env}",
                version=_version(),
            )
        )
    return render_text(diags, root=Path.cwd()) + ("\n" if diags else "") + summary(diags) + "\n"


def run(args: argparse.Namespace, console: Console) -> int:
    names = environments_of(args)
    if names is not None:
        return run_many(args, console, names)
    diags, env, line = findings_of(args, console)
    if args.out:
        Path(args.out).write_text(_render(args.format, diags, args, env), encoding="utf-8")
        console.done()
        if diags:
            console.err.write(render_text(diags, root=Path.cwd(), color=console.color) + "\n")
        console.err.write(f"{line}; wrote {args.out}\n")
    elif args.format == "text":
        console.diagnostics(diags)
        console.result(line)
    else:  # the document on stdout, the verdict on stderr
        console.done()
        console.out.write(_render(args.format, diags, args, env))
        console.err.write(line + "\n")
    return EXIT_INVALID if has_errors(diags) else EXIT_OK


def findings_of(args: argparse.Namespace, console: Console) -> tuple[list[Diagnostic], str, str]:
    """The findings of one environment, its name and the verdict line."""
    started = time.perf_counter()
    result, _ = run_frontend(args, console)
    from compiler.policy.baseline import RULES
    from compiler.policy.org import POLICY_CODES
    from compiler.policy.security import check_environment

    outcome = check_environment(result, console.progress, options=build_options(args))
    diags = outcome.diagnostics
    env = result.ir.environment if result.ir else (args.env or "default")
    seconds = time.perf_counter() - started
    findings = sum(d.code.startswith(("G", "S")) for d in diags)
    if outcome.baseline_ran and outcome.plan is not None:
        scope = (
            f"{len(POLICY_CODES)} organisation policies and {len(RULES)} baseline checks on "
            f"{len(outcome.plan.managed())} resources"
        )
    else:
        scope = "organisation policies only: the security baseline needs valid specs"
    verdict = "failed" if has_errors(diags) else "ok"
    return diags, env, f"{verdict}: {findings} policy findings in {env} ({scope}) in {seconds:.1f}s"


def run_many(args: argparse.Namespace, console: Console, names: list[str]) -> int:
    """Each environment of `names`: one document (SARIF: one run per environment, each
    with its own category), verdict lines on stderr."""
    found: dict[str, list[Diagnostic]] = {}
    lines = []
    for name in names:
        diags, env, line = findings_of(argparse.Namespace(**{**vars(args), "env": name}), console)
        found[env] = diags
        lines.append(line)
    every = [d for diags in found.values() for d in diags]
    if args.format == "sarif":
        logs = [json.loads(_render("sarif", diags, args, env)) for env, diags in found.items()]
        document = logs[0] if logs else {}
        for log in logs[1:]:
            document["runs"].extend(log["runs"])
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    elif args.format == "json":
        text = (
            json.dumps(
                {
                    "diagnostics": [
                        {**d.to_json(), "environment": env}
                        for env, diags in found.items()
                        for d in sorted(diags, key=sort_key)
                    ]
                },
                indent=2,
                sort_keys=True,
            )
            + "\n"
        )
    else:
        text = ""
    console.done()
    if args.format == "text" and not args.out:
        console.diagnostics(unique(every))
    elif args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        if every:
            console.err.write(
                render_text(unique(every), root=Path.cwd(), color=console.color) + "\n"
            )
    else:
        console.out.write(text)
    for line in lines or ["ok: this change reaches no environment"]:
        console.err.write(line + "\n")
    if args.out:
        console.err.write(f"wrote {args.out}\n")
    return EXIT_INVALID if has_errors(every) else EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "check",
        help="run the organisation policies and the security baseline of ENV",
        conflict_handler="resolve",
    )
    add_common_args(parser)
    add_build_args(parser)
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="findings as text, JSON or SARIF 2.1.0 (GitHub code scanning)",
    )
    parser.add_argument("--out", metavar="FILE", help="write the findings to FILE")
    from compiler.commands.plan import add_base_arg

    add_base_arg(parser, " (with --env changed: the environments the change since it reaches)")
    parser.set_defaults(func=run)
