"""`mlplat destroy`: remove the local deployment (servers, runs, registry, state).

Asks first (or takes --yes), and removes only what a local deploy creates inside the
state folder; a folder that does not look like one is refused.
"""

from __future__ import annotations

import argparse
import sys

from compiler.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, Console
from compiler.commands.status import add_state_args, state_folder


def run(args: argparse.Namespace, console: Console) -> int:
    from compiler.deploy.local.manage import DestroyRefused, destroy, destroy_check
    from compiler.deploy.local.state import StateError, state_lock

    folder = state_folder(args)
    if not folder.exists():
        console.result(f"nothing to destroy: {folder} does not exist")
        return EXIT_OK
    try:
        root, state = destroy_check(folder)
    except DestroyRefused as exc:
        console.err.write(f"mlplat: error: refusing to destroy: {exc}\n")
        return EXIT_USAGE
    except StateError as exc:
        console.err.write(f"mlplat: error: refusing to destroy: {exc}\n")
        return EXIT_USAGE
    if not args.yes:
        if not sys.stdin.isatty():
            console.err.write(
                f"mlplat: error: destroying {folder} needs confirmation; pass --yes in scripts\n"
            )
            return EXIT_USAGE
        endpoints = len(state.endpoints) if state else 0
        runs = len(state.pipelines) if state else 0
        console.err.write(
            f"This stops {endpoints} endpoint(s) and deletes the runs of {runs} pipeline(s), "
            f"the model registry and the state in {root}.\nType 'yes' to continue: "
        )
        console.err.flush()
        if sys.stdin.readline().strip().lower() != "yes":
            console.result("cancelled; nothing was removed")
            return EXIT_INVALID
    try:
        with state_lock(root / ".lock"):
            left = destroy(root, state)
    except StateError as exc:
        console.err.write(
            f"mlplat: error: {exc}\n" + (f"  = hint: {exc.hint}\n" if exc.hint else "")
        )
        return EXIT_INVALID
    kept = f"; kept files that mlplat did not create: {', '.join(left)}" if left else ""
    console.result(f"ok: destroyed the local deployment in {folder}{kept}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "destroy", help="remove the local deployment (asks first; --yes for scripts)"
    )
    add_state_args(parser)
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(func=run)
