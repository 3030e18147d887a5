"""`mlplat down`: stop the local model servers; pipelines' data, registry and state stay."""

from __future__ import annotations

import argparse

from compiler.cli import EXIT_INVALID, EXIT_OK, Console
from compiler.commands.status import add_state_args, state_folder


def run(args: argparse.Namespace, console: Console) -> int:
    from compiler.deploy.local.manage import stop_endpoints
    from compiler.deploy.local.state import StateError, load_state, save_state, state_lock

    folder = state_folder(args)
    root = folder.resolve()
    if not (root / "state.json").exists():
        console.result(f"nothing deployed in {folder}")
        return EXIT_OK
    try:
        with state_lock(root / ".lock"):
            state = load_state(root / "state.json")
            assert state is not None
            stopped = stop_endpoints(root, state)
            save_state(root / "state.json", state)
    except StateError as exc:
        console.err.write(
            f"mlplat: error: {exc}\n" + (f"  = hint: {exc.hint}\n" if exc.hint else "")
        )
        return EXIT_INVALID
    names = ", ".join(stopped) if stopped else "none was running"
    console.result(
        f"ok: stopped {len(stopped)} endpoint{'s' * (len(stopped) != 1)} ({names}); "
        f"data kept in {folder} (mlplat deploy starts them again)"
    )
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("down", help="stop the local endpoints (keeps runs, models, state)")
    add_state_args(parser)
    parser.set_defaults(func=run)
