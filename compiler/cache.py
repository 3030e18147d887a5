"""A content-addressed cache for build stages: same inputs, same bytes, no recomputation.

Every entry is keyed by a hash of *everything* its output depends on: the IR objects it
reads, the source of the code that produces it (`code_fingerprint`), and the versions of
the libraries involved. A change to any of them changes the key, so a stale entry can never
be served; unused entries are simply never read again, and entries unused for
`MAX_AGE_DAYS` are pruned (at most once a day, by the commands that build: `mlplat validate`
stays free of that work).

Storage: one SQLite database, `build/.cache/entries.sqlite` (write-ahead log, one
transaction per entry), so concurrent processes and interrupted runs leave either a complete
entry or none. A cold build of a large organisation stores over ten thousand entries: as
files, creating them cost seconds of system time on these machines; as rows, a fraction of
that, and a warm build opens one file instead of thousands. Each process opens its own
connection (a forked worker never uses its parent's). A cache that cannot be read or
written only costs time, never correctness.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import threading
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


def file_digest(paths: Iterable[Path | str]) -> str:
    """Digest of several files' names and contents."""
    return digest([(str(path), _one_file(str(path))) for path in paths])


def _dump_digest(model: Any) -> str:
    return digest(model.model_dump(mode="json"))


DAY = 24 * 3600
MAX_AGE_DAYS = 30
"""Entries not read or written for this long are deleted; a hit refreshes an entry's age."""


DATABASE = "entries.sqlite"


class _Store:
    """The entries of one cache folder in SQLite, one connection per process."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / DATABASE
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._inherited: list[sqlite3.Connection] = []
        self._unavailable = 0
        """The process that could not open the database: it stops trying."""

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS entries (stage TEXT NOT NULL, key TEXT NOT NULL, "
                "data BLOB NOT NULL, used REAL NOT NULL, PRIMARY KEY (stage, key))"
            )
        except sqlite3.DatabaseError:
            connection.close()
            raise
        return connection

    def connection(self) -> sqlite3.Connection:
        """This process's connection. One inherited through fork is kept open but unused:
        SQLite connections must not cross a fork, and closing it in the child could disturb
        the parent's locks."""
        pid = os.getpid()
        if self._connection is None or self._pid != pid:
            if self._unavailable == pid:
                raise sqlite3.OperationalError(f"cannot open {self.path}")
            if self._connection is not None:
                self._inherited.append(self._connection)
                self._connection = None
            try:
                try:
                    self._connection = self._open()
                except sqlite3.DatabaseError:
                    # not a database (a damaged file): start an empty one
                    self.path.unlink(missing_ok=True)
                    self._connection = self._open()
            except (sqlite3.Error, OSError):
                self._unavailable = pid
                raise
            self._pid = pid
        return self._connection

    def get(self, stage: str, key: str) -> tuple[bytes, float] | None:
        with self._lock:
            row = (
                self.connection()
                .execute("SELECT data, used FROM entries WHERE stage = ? AND key = ?", (stage, key))
                .fetchone()
            )
        return None if row is None else (bytes(row[0]), float(row[1]))

    def put(self, stage: str, key: str, data: bytes, now: float) -> None:
        with self._lock:
            self.connection().execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)", (stage, key, data, now)
            )

    def touch(self, stage: str, key: str, now: float) -> None:
        with self._lock:
            self.connection().execute(
                "UPDATE entries SET used = ? WHERE stage = ? AND key = ?", (now, stage, key)
            )

    def count(self, stage: str | None) -> int:
        query, args = "SELECT COUNT(*) FROM entries", tuple[str, ...]()
        if stage is not None:
            query, args = query + " WHERE stage = ?", (stage,)
        with self._lock:
            return int(self.connection().execute(query, args).fetchone()[0])

    def prune(self, cutoff: float) -> int:
        with self._lock:
            cursor = self.connection().execute("DELETE FROM entries WHERE used < ?", (cutoff,))
        return max(0, cursor.rowcount)


class BuildCache:
    """Get and put bytes by (stage, key). A cache without a folder stores nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._store = _Store(folder) if folder is not None else None
        self.hits = 0
        self.misses = 0
        self._stage_counts: dict[tuple[str, bool], int] = {}
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
            self._count(stage, hit=True)
            return found[2]
        data = self.get(stage, key)
        if data is None:
            return None
        value = decode(data)
        if self._memory is not None:
            self._memory[slot] = (self._generation, (), value)
        return value

    def json_value(self, stage: str, key: str, compute: Callable[[], T | None]) -> T | None:
        """The JSON value kept under (`stage`, `key`), else `compute()`, kept when it is not
        None (None: nothing to keep, e.g. a failure) and reads back from JSON exactly equal
        (non-string keys or tuples would not: such a value is returned, never kept)."""
        found = self.get(stage, key) if self.enabled else None
        if found is not None:
            value: T = orjson.loads(found)
            return value
        value_or_none = compute()
        if value_or_none is not None and self.enabled:
            try:
                data = orjson.dumps(value_or_none)
            except TypeError:
                return value_or_none
            if orjson.loads(data) == value_or_none:
                self.put(stage, key, data)
        return value_or_none

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
        """Delete entries older than `MAX_AGE_DAYS`, and the per-file layout of earlier
        versions (`<stage>/<key[:2]>/<key>` folders)."""
        if self._store is None or self.folder is None or not self.folder.is_dir():
            return 0
        cutoff = (time.time() if now is None else now) - MAX_AGE_DAYS * DAY
        for legacy in self.folder.iterdir():
            if legacy.is_dir():
                shutil.rmtree(legacy, ignore_errors=True)
        try:
            return self._store.prune(cutoff)
        except (sqlite3.Error, OSError):
            return 0

    def entries(self, stage: str | None = None) -> int:
        """How many entries the cache holds (of one stage, or all)."""
        if self._store is None:
            return 0
        try:
            return self._store.count(stage)
        except (sqlite3.Error, OSError):
            return 0

    def get(self, stage: str, key: str) -> bytes | None:
        if self._store is None:
            return None
        try:
            found = self._store.get(stage, key)
            if found is not None and time.time() - found[1] > DAY:
                self._store.touch(stage, key, time.time())  # in use: keep it from being pruned
        except (sqlite3.Error, OSError):
            found = None
        self._count(stage, hit=found is not None)
        return None if found is None else found[0]

    def _count(self, stage: str, *, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        slot = (stage, hit)
        self._stage_counts[slot] = self._stage_counts.get(slot, 0) + 1

    def hits_of(self, stage: str) -> int:
        """Entries of `stage` found (in memory or stored) since this object was made."""
        return self._stage_counts.get((stage, True), 0)

    def misses_of(self, stage: str) -> int:
        return self._stage_counts.get((stage, False), 0)

    def put(self, stage: str, key: str, data: bytes, decoded: Any = None) -> None:
        """Store `data`; a resident process also remembers `decoded` (what `load` would
        decode from it), so the next build reuses that very object."""
        if self._memory is not None and decoded is not None:
            self._memory[(stage, (), key)] = (self._generation, (), decoded)
        if self._store is None:
            return
        # a cache that cannot be written only costs time, never correctness
        with contextlib.suppress(sqlite3.Error, OSError):
            self._store.put(stage, key, data, time.time())
