"""Helpers shared by table-driven tests: apply a case's edits to a configs copy, run the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from compiler.cli import main


def load_cases(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def apply_edits(configs: Path, case: dict[str, Any]) -> None:
    """Edits of a case: replace (one exact occurrence, or a list of them), write (text, or
    bytes given as hex), delete."""
    replaces = case.get("replace", [])
    for edit in replaces if isinstance(replaces, list) else [replaces]:
        path = configs / edit["file"]
        text = path.read_text(encoding="utf-8")
        assert text.count(edit["old"]) == 1, f"{edit['old']!r} must occur once in {edit['file']}"
        path.write_text(text.replace(edit["old"], edit["new"]), encoding="utf-8")
    if "write" in case:
        target = configs / case["write"]["file"]
        if "hex" in case["write"]:  # bytes that are not text
            target.write_bytes(bytes.fromhex(case["write"]["hex"]))
        else:
            target.write_text(case["write"]["text"], encoding="utf-8")
    if "delete" in case:
        (configs / case["delete"]).unlink()


def run_cli(
    configs: Path, argv: list[str], monkeypatch: Any, capsys: Any
) -> tuple[int, list[str], str]:
    """Run `mlplat` inside the configs folder (so diagnostics name files relative to it)."""
    monkeypatch.chdir(configs)
    code = main([*argv[:1], "--configs", ".", "--no-color", *argv[1:]])
    captured = capsys.readouterr()
    return code, captured.err.splitlines(), captured.out


def run_fresh_python(script: str, *argv: str, timeout: float = 600) -> Any:
    """Run `script` in a fresh interpreter at the repository root; its last stdout line, as
    JSON. Parallel paths need this: workers fork only while a process runs one thread, and a
    test session has started threads (servers, clients) long before."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its POSIX path relative to it: two builds compare equal
    only when they hold the same files with the same bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
