"""`mlplat status`: what the local platform runs: pipelines and last runs, models, endpoints."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from compiler.cli import EXIT_INVALID, EXIT_OK, Console


def add_state_args(parser: argparse.ArgumentParser) -> None:
    """--env / --state-dir: which local deployment (default .mlplat/<env>)."""
    parser.add_argument("--env", default="local", help="environment (default: local)")
    parser.add_argument("--state-dir", help="state folder (default: .mlplat/<env>)")
    parser.add_argument("--no-color", action="store_true", help="plain output even on a terminal")


def state_folder(args: argparse.Namespace) -> Path:
    from compiler.deploy.local.layout import default_state_dir

    return Path(args.state_dir) if args.state_dir else default_state_dir(args.env)


def run(args: argparse.Namespace, console: Console) -> int:
    from compiler.deploy.local.manage import status_data, status_lines
    from compiler.deploy.local.state import StateError, load_state

    folder = state_folder(args)
    root = folder.resolve()
    try:
        state = load_state(root / "state.json")
    except StateError as exc:
        console.err.write(
            f"mlplat: error: {exc}\n" + (f"  = hint: {exc.hint}\n" if exc.hint else "")
        )
        return EXIT_INVALID
    if state is None:
        if args.format == "json":
            console.out.write(json.dumps({"state_dir": str(root), "deployed": False}) + "\n")
        else:
            console.result(f"nothing deployed in {folder} (run: mlplat deploy --env {args.env})")
        return EXIT_OK
    if args.format == "json":
        data = status_data(root, state)
        console.out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    for line in status_lines(root, state):
        console.result(line)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "status", help="show the local deployment: pipelines, model versions, endpoints"
    )
    add_state_args(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(func=run)
