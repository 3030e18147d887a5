"""A validation's verdict, remembered under everything it read.

`mlplat validate` of an organisation nobody changed since the last validation (the common
case: a pre-commit hook, an editor on save, CI re-runs) answers from the build cache without
loading the schemas, Hydra or pyarrow: it hashes the files and prints what the validation
said then. The key covers every input of a validation:

- the name and bytes of every file under the configs folder (specs, overlays, policies);
- the environments and overrides asked for, the working directory (diagnostics name files
  relative to it) and the date (policy exceptions expire);
- the code of `compiler/` and `schemas/`, and the versions of the libraries that parse and
  check (pydantic, Hydra, OmegaConf, PyYAML, pyarrow, email-validator);
- and, checked after the lookup, the bytes of the repository files the specs name
  (feature sources, whose columns are checked): recorded by the validation that made it.

Only verdicts without errors are kept: a failing validation is always run again, so its
diagnostics come from the code that checks them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson

from compiler.cache import REPO, BuildCache, code_fingerprint, digest, file_digest, versions
from compiler.diagnostics import Diagnostic, Severity, Span

STAGE = "verdict"
_LIBRARIES = (
    "pydantic",
    "pydantic-core",
    "hydra-core",
    "omegaconf",
    "PyYAML",
    "pyarrow",
    "email-validator",
)


@dataclass(frozen=True)
class Verdict:
    """What a validation without errors reports: its warnings and each environment's shape."""

    diagnostics: list[Diagnostic]
    shapes: dict[str, str]
    """Environment → "5 teams, 4 node pools, ..." (`cli.describe_ir`)."""


def _every_file(configs: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(configs):
        dirs.sort()
        found.extend(Path(folder) / name for name in sorted(files))
    return found


def verdict_key(configs: Path, environments: Sequence[str], overrides: Sequence[str]) -> str:
    files = _every_file(configs)
    return digest(
        STAGE,
        str(configs),
        os.getcwd(),
        list(environments),
        list(overrides),
        date.today().isoformat(),
        [path.relative_to(configs).as_posix() for path in files],
        file_digest(files),
        code_fingerprint("compiler", "schemas"),
        versions(*_LIBRARIES),
    )


def _diagnostic(data: dict[str, object]) -> Diagnostic:
    span = data["span"]
    assert isinstance(span, dict)
    notes = data.get("notes") or []
    assert isinstance(notes, list)
    return Diagnostic(
        str(data["code"]),
        str(data["message"]),
        Span(str(span["file"]), int(span["line"]), int(span["col"])),
        None if data.get("hint") is None else str(data["hint"]),
        Severity(str(data["severity"])),
        tuple(str(note) for note in notes),
    )


def recall(cache: BuildCache | None, key: str) -> Verdict | None:
    """The verdict stored under `key`, if the repository files it read are unchanged."""
    if cache is None or not cache.enabled:
        return None
    found = cache.get(STAGE, key)
    if found is None:
        return None
    data = orjson.loads(found)
    read = [REPO / path for path in data["read"]]
    if file_digest(read) != data["read_digest"]:
        return None
    return Verdict([_diagnostic(d) for d in data["diagnostics"]], dict(data["shapes"]))


def remember(cache: BuildCache | None, key: str, verdict: Verdict, read: Sequence[str]) -> None:
    """Keep a verdict without errors; `read`: repository files (relative) the specs named."""
    if cache is None or not cache.enabled or any(d.is_error for d in verdict.diagnostics):
        return
    paths = sorted(set(read))
    data = {
        "diagnostics": [d.to_json() for d in verdict.diagnostics],
        "shapes": verdict.shapes,
        "read": paths,
        "read_digest": file_digest([REPO / path for path in paths]),
    }
    cache.put(STAGE, key, orjson.dumps(data))
