"""A content-addressed cache for build stages: same inputs, same bytes, no recomputation.

Every entry is keyed by a hash of *everything* its output depends on: the IR objects it
reads, the source of the code that produces it (`code_fingerprint`), and the versions of
the libraries involved. A change to any of them changes the key, so a stale entry can never
be served; unused entries are simply never read again (`mlplat` prunes by age).

Layout: `build/.cache/<stage>/<key[:2]>/<key>`, written atomically (temp file + rename), so
concurrent processes and interrupted runs leave either a complete entry or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def digest(*parts: Any) -> str:
    """sha256 of the canonical JSON of `parts` (dicts by sorted keys)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def code_fingerprint(*packages: str) -> str:
    """Hash of every Python file of the given packages (folders under the repository)."""
    hasher = hashlib.sha256()
    for package in sorted(packages):
        folder = REPO / package
        files = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder]
        for path in files:
            hasher.update(path.relative_to(REPO).as_posix().encode())
            hasher.update(path.read_bytes())
    return hasher.hexdigest()


@cache
def versions(*distributions: str) -> dict[str, str]:
    """Installed versions of the libraries whose behaviour shapes an output."""
    found = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


@cache
def _content_digest(path: str, size: int, mtime_ns: int) -> str:
    """A file's digest, read once per (path, size, mtime) in this process."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "<missing>"


def _one_file(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return "<missing>"
    return _content_digest(path, stat.st_size, stat.st_mtime_ns)


def file_digest(paths: Iterable[Path]) -> str:
    """Digest of several files' names and contents."""
    return digest([(str(path), _one_file(str(path))) for path in paths])


class BuildCache:
    """Get and put bytes by (stage, key). A cache without a folder stores nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0

    @classmethod
    def for_build(cls, build_dir: Path, enabled: bool = True) -> BuildCache:
        return cls(build_dir / ".cache" if enabled else None)

    def _path(self, stage: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / stage / key[:2] / key

    def get(self, stage: str, key: str) -> bytes | None:
        if self.folder is None:
            return None
        try:
            data = self._path(stage, key).read_bytes()
        except OSError:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, stage: str, key: str, data: bytes) -> None:
        if self.folder is None:
            return
        path = self._path(stage, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time, never correctness
