"""A content-addressed cache for build stages: same inputs, same bytes, no recomputation.

Every entry is keyed by a hash of *everything* its output depends on: the IR objects it
reads, the source of the code that produces it (`code_fingerprint`), and the versions of
the libraries involved. A change to any of them changes the key, so a stale entry can never
be served; unused entries are simply never read again, and entries unused for
`MAX_AGE_DAYS` are pruned (at most once a day, by the commands that build: `mlplat validate`
stays free of that walk).

Layout: `build/.cache/<stage>/<key[:2]>/<key>`, written atomically (temp file + rename), so
concurrent processes and interrupted runs leave either a complete entry or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable
from functools import cache, partial
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent


def digest(*parts: Any) -> str:
    """sha256 of the canonical JSON of `parts` (dicts by sorted keys). orjson writes it ≈ 10x
    faster than the standard library, which takes what orjson refuses (non-string keys,
    integers beyond 64 bits)."""
    try:
        data = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:
        data = json.dumps(
            parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()
    return hashlib.sha256(data).hexdigest()


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


def _dump_digest(model: Any) -> str:
    return digest(model.model_dump(mode="json"))


DAY = 24 * 3600
MAX_AGE_DAYS = 30
"""Entries not read or written for this long are deleted; a hit refreshes an entry's age."""


class BuildCache:
    """Get and put bytes by (stage, key). A cache without a folder stores nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._root = str(folder) if folder is not None else ""
        self.hits = 0
        self.misses = 0
        self._memory: dict[tuple[str, tuple[int, ...], Hashable], tuple[int, Any, Any]] | None = (
            None
        )
        """A resident process's memory: (stage, owners' ids, key) → (build that last used
        it, the owners, the value). Entries decoded from the cache have no owners."""
        self._generation = 0

    def keep_in_memory(self) -> None:
        """Remember decoded entries and derived results between builds of this process
        (`mlplat watch`): an unchanged team then costs dictionary lookups instead of file
        reads, decodes and recomputation."""
        if self._memory is None:
            self._memory = {}

    def begin_build(self) -> None:
        self._generation += 1

    def end_build(self) -> int:
        """Forget what this build did not use; returns how many entries were dropped."""
        if self._memory is None:
            return 0
        stale = [slot for slot, (used, _, _) in self._memory.items() if used != self._generation]
        for slot in stale:
            del self._memory[slot]
        return len(stale)

    def recall(
        self,
        stage: str,
        owners: object | tuple[object, ...],
        key: Hashable,
        compute: Callable[[], T],
    ) -> T:
        """`compute()`, remembered by a resident process for the immutable object(s)
        `owners` (compared by identity: an unchanged team keeps its spec objects between
        builds, and a remembered entry keeps them alive) and `key` (everything else the
        computation reads, by value). Without memory, just `compute()`."""
        if self._memory is None:
            return compute()
        held = owners if isinstance(owners, tuple) else (owners,)
        slot = (stage, tuple(map(id, held)), key)
        found = self._memory.get(slot)
        if found is not None and all(a is b for a, b in zip(found[1], held, strict=True)):
            self._memory[slot] = (self._generation, found[1], found[2])
            return found[2]
        value = compute()
        self._memory[slot] = (self._generation, held, value)
        return value

    def dump_digest(self, model: Any) -> str:
        """`digest` of a pydantic model's JSON dump, remembered per object by a resident
        process (IR objects are immutable)."""
        return self.recall("dump-digest", model, None, partial(_dump_digest, model))

    def load(self, stage: str, key: str, decode: Callable[[bytes], T]) -> T | None:
        """`get`, decoded. In a resident process the decoded value is remembered and shared
        between builds: callers must never mutate it. Keys are content hashes, so a
        remembered value can only be served for exactly the inputs it was made from."""
        slot = (stage, (), key)
        if self._memory is not None and (found := self._memory.get(slot)) is not None:
            self._memory[slot] = (self._generation, (), found[2])
            self.hits += 1
            return found[2]
        data = self.get(stage, key)
        if data is None:
            return None
        value = decode(data)
        if self._memory is not None:
            self._memory[slot] = (self._generation, (), value)
        return value

    @property
    def resident(self) -> bool:
        """Whether results are remembered between builds of this process (`recall`)."""
        return self._memory is not None

    @property
    def enabled(self) -> bool:
        """Whether entries are kept: callers skip computing keys for a disabled cache."""
        return self.folder is not None

    @classmethod
    def for_build(cls, build_dir: Path, enabled: bool = True) -> BuildCache:
        return cls(build_dir / ".cache" if enabled else None)

    def prune_daily(self, now: float | None = None) -> int:
        """`prune`, unless it already ran in the last day (a marker file records when)."""
        if self.folder is None:
            return 0
        now = time.time() if now is None else now
        marker = self.folder / ".pruned"
        try:
            if now - marker.stat().st_mtime < DAY:
                return 0
        except OSError:
            pass  # never pruned
        removed = self.prune(now)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            marker.touch()
            os.utime(marker, (now, now))
        except OSError:
            pass
        return removed

    def prune(self, now: float | None = None) -> int:
        """Delete entries (and abandoned temp files) older than `MAX_AGE_DAYS`."""
        if self.folder is None or not self.folder.is_dir():
            return 0
        cutoff = (time.time() if now is None else now) - MAX_AGE_DAYS * DAY
        removed = 0
        for stage in self.folder.iterdir():
            if not stage.is_dir():
                continue
            for path in stage.glob("*/*"):
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                except OSError:
                    pass  # another process pruned it first
        return removed

    def _path(self, stage: str, key: str) -> str:
        """A string, not a Path: a large build looks up tens of thousands of entries."""
        assert self.folder is not None
        return os.path.join(self._root, stage, key[:2], key)

    def get(self, stage: str, key: str) -> bytes | None:
        if self.folder is None:
            return None
        path = self._path(stage, key)
        try:
            with open(path, "rb") as entry:
                data = entry.read()
                age = time.time() - os.fstat(entry.fileno()).st_mtime
            if age > DAY:
                os.utime(path)  # in use: keep it from being pruned
        except OSError:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, stage: str, key: str, data: bytes, decoded: Any = None) -> None:
        """Store `data`; a resident process also remembers `decoded` (what `load` would
        decode from it), so the next build reuses that very object."""
        if self._memory is not None and decoded is not None:
            self._memory[(stage, (), key)] = (self._generation, (), decoded)
        if self.folder is None:
            return
        path = self._path(stage, key)
        try:
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time, never correctness
