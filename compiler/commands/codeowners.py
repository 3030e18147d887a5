"""`mlplat codeowners`: write (or check) the CODEOWNERS file generated from the team specs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from compiler.cli import EXIT_INVALID, EXIT_OK, Console, add_common_args, run_frontend


def run(args: argparse.Namespace, console: Console) -> int:
    from compiler.codeowners import render_codeowners

    result, _ = run_frontend(args, console)
    if not result.ok:
        console.diagnostics(result.diagnostics)
        return EXIT_INVALID
    out = Path(args.out)
    repo = out.resolve().parent.parent if out.parent.name == ".github" else out.resolve().parent
    configs = Path(os.path.relpath(Path(args.configs).resolve(), repo)).as_posix()
    components = repo / "components"
    teams_with_code = (
        {p.name for p in components.iterdir() if p.is_dir()} if components.is_dir() else set()
    )
    text = render_codeowners(result.ir, configs, teams_with_code)
    current = out.read_text(encoding="utf-8") if out.is_file() else None
    if args.check:
        if current != text:
            console.err.write(f"{out}: out of date with the team specs; run `make codeowners`\n")
            return EXIT_INVALID
        console.result(f"ok: {out} is up to date")
        return EXIT_OK
    if current != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.result(f"wrote {out}")
    else:
        console.result(f"{out} is up to date")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("codeowners", help="generate .github/CODEOWNERS from the team specs")
    add_common_args(parser, overrides=False)
    parser.add_argument(
        "--out", default=".github/CODEOWNERS", help="file to write (default: .github/CODEOWNERS)"
    )
    parser.add_argument(
        "--check", action="store_true", help="fail if the file is out of date instead of writing"
    )
    parser.set_defaults(func=run)
