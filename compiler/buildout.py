"""Write `build/<env>/` atomically: a failed or interrupted run leaves the previous build intact.

Files are staged in a sibling folder and swapped in with two renames; a crash between
them is repaired by the next run (the previous build is restored from its parked copy).
Files whose content did not change are hard-linked from the previous build instead of
written again (a large organisation's build holds tens of thousands of files); a digest
list of the previous build, kept next to it, says which ones those are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath


def _file_mode() -> int:
    """What `open(path, "wb")` would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def _recover(target: Path) -> None:
    parked = target.with_name(f".{target.name}.previous")
    if parked.exists():
        if target.exists():
            shutil.rmtree(parked, ignore_errors=True)
        else:
            os.rename(parked, target)


def _digest_file(target: Path) -> Path:
    return target.with_name(f".{target.name}.digests.json")


def _safe_relative(rel: str) -> PurePosixPath:
    path = PurePosixPath(rel)
    if path.is_absolute() or not path.parts or any(p in ("..", "") for p in path.parts):
        raise ValueError(f"refusing to write outside the build folder: {rel}")
    return path


class StagedTree:
    """A new `target` folder built in a staging folder, in as many parts as come ready (a
    plan writes its compiled pipelines while the program runs), then swapped in by
    `commit`, or thrown away by `discard`: the previous build stays intact until the swap."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        _recover(self.target)
        self._previous: dict[str, list[str | int]] = {}
        self._digests_path = _digest_file(self.target)
        if self.target.is_dir() and self._digests_path.is_file():
            try:
                self._previous = json.loads(self._digests_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._previous = {}
        self.staging = Path(
            tempfile.mkdtemp(prefix=f".{self.target.name}.staging-", dir=self.target.parent)
        )
        self._digests: dict[str, list[str | int]] = {}
        self._made: set[Path] = {self.staging}

    def __contains__(self, rel: str) -> bool:
        return rel in self._digests

    def write(self, files: Mapping[str, bytes | str]) -> None:
        """Stage `files` (each path once): unchanged ones are hard-linked from the previous
        build, the others written."""
        for rel, content in sorted(files.items()):
            if rel in self._digests:
                raise ValueError(f"staged twice: {rel}")
            path = self.staging.joinpath(*_safe_relative(rel).parts)
            if path.parent not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(path.parent)
            data = content.encode("utf-8") if isinstance(content, str) else content
            digest = hashlib.sha256(data).hexdigest()
            before = self._previous.get(rel)
            if before is not None and before[0] == digest and _untouched(self.target / rel, before):
                try:
                    os.link(self.target / rel, path)  # unchanged: share the previous file
                    self._digests[rel] = before
                    continue
                except OSError:
                    pass
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            try:
                _write_all(handle, data)
                stat = os.fstat(handle)
            finally:
                os.close(handle)
            self._digests[rel] = [digest, stat.st_size, stat.st_mtime_ns]

    def commit(self) -> None:
        """Swap the staged folder in for `target` (two renames), then record its digests."""
        os.chmod(self.staging, 0o755)
        parked = self.target.with_name(f".{self.target.name}.previous")
        if self.target.exists():
            os.rename(self.target, parked)
        os.rename(self.staging, self.target)
        _write_digests(self._digests_path, self._digests)
        shutil.rmtree(parked, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        _recover(self.target)


def _write_all(handle: int, data: bytes) -> None:
    """`os.write` until all of `data` is written (one call, for files under 2 GiB)."""
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view) :]


def write_tree(target: Path, files: Mapping[str, bytes | str]) -> None:
    """Replace folder ``target`` by exactly ``files`` (relative POSIX path → content)."""
    staged = StagedTree(target)
    try:
        staged.write(files)
        staged.commit()
    except BaseException:
        staged.discard()
        raise


def _untouched(path: Path, recorded: list[str | int]) -> bool:
    """The previous file is still what was written (nobody edited it since)."""
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return [stat.st_size, stat.st_mtime_ns] == recorded[1:]


def _write_digests(path: Path, digests: dict[str, list[str | int]]) -> None:
    """The digest list is only an accelerator: losing it means writing every file next time."""
    try:
        temp = path.with_name(path.name + ".tmp")
        temp.write_text(json.dumps(digests, sort_keys=True), encoding="utf-8")
        os.replace(temp, path)
    except OSError:
        path.unlink(missing_ok=True)


INCOMPLETE = ".incomplete"
"""Marker of a folder being refreshed in place: present after a crash midway, when the next
run rebuilds the folder whole instead of trusting the digest list."""


def refreshable(target: Path) -> bool:
    """Whether `refresh_tree` may update `target` (worth computing its outputs for)."""
    target = Path(target)
    _recover(target)
    return target.is_dir() and _digest_file(target).is_file() and not (target / INCOMPLETE).exists()


def refresh_tree(target: Path, files: Mapping[str, bytes | str], most: float = 0.25) -> int | None:
    """Bring ``target`` to exactly ``files`` in place, writing only what differs from the
    digest list of the build that wrote it (each file atomically: temp file + rename) and
    removing what went; the number of files written or removed.

    For a fresh process after a small change (a pull request's plan): a build of tens of
    thousands of files, of which a handful changed, costs the hashes of the new contents and a
    `stat` per file instead of a whole staged copy, its swap and the removal of the old one.
    None when the folder cannot be refreshed (missing, no digest list, a marker of an earlier
    refresh that did not finish, a file outside the list) or when more than a `most` share of
    the files changed (a whole new tree is then cheaper): the caller stages it whole.
    Not a swap: a crash midway leaves complete files, old and new, and the marker."""
    target = Path(target)
    marker = target / INCOMPLETE
    digests_path = _digest_file(target)
    if not target.is_dir() or marker.exists():
        return None
    try:
        recorded: dict[str, list[str | int]] = json.loads(digests_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wanted: dict[str, tuple[bytes, str]] = {}
    for rel, content in files.items():
        _safe_relative(rel)
        data = content.encode("utf-8") if isinstance(content, str) else content
        wanted[rel] = (data, hashlib.sha256(data).hexdigest())
    stale = [
        rel
        for rel, (_data, digest) in wanted.items()
        if (before := recorded.get(rel)) is None
        or before[0] != digest
        or not _untouched(target / rel, before)
    ]
    gone = sorted(recorded.keys() - wanted.keys())
    if len(stale) + len(gone) > most * max(1, len(wanted)):
        return None
    if set(_present(target)) != recorded.keys():
        return None  # a file nobody recorded (or one removed by hand)
    if not stale and not gone:
        return 0
    marker.touch()
    for rel in sorted(stale):
        data, digest = wanted[rel]
        recorded[rel] = [digest, *_replace_file(target, rel, data)]
    for rel in gone:
        _remove_file(target, rel)
        del recorded[rel]
    _write_digests(digests_path, recorded)
    marker.unlink()
    return len(stale) + len(gone)


def _present(target: Path) -> list[str]:
    """Every file under `target`, as POSIX paths relative to it."""
    found: list[str] = []
    for folder, _dirs, names in os.walk(target):
        base = Path(folder).relative_to(target)
        found.extend((base / name).as_posix() for name in names)
    return found


def update_tree(
    target: Path, files: Mapping[str, bytes | str], previous: Mapping[str, bytes | str]
) -> int:
    """Bring ``target``, last written with ``previous`` by this process, to ``files`` in place.

    For a resident process (`mlplat watch`) whose builds differ in a handful of files: only
    those are written (each atomically, temp file + rename) or removed, instead of staging
    the whole tree. Unlike `write_tree` the folder is not swapped as one: a crash midway
    leaves a mix of old and new files, each complete; the next build repairs it. Returns
    the number of files written or removed.
    """
    target = Path(target)
    if not target.is_dir():
        write_tree(target, files)
        return len(files)
    digests_path = _digest_file(target)
    try:
        digests: dict[str, list[str | int]] = json.loads(digests_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        digests = {}
    changed = 0
    for rel, content in files.items():
        before = previous.get(rel)
        if before is not None and (before is content or before == content):
            continue
        data = content.encode("utf-8") if isinstance(content, str) else content
        digests[rel] = [hashlib.sha256(data).hexdigest(), *_replace_file(target, rel, data)]
        changed += 1
    for rel in previous.keys() - files.keys():
        _remove_file(target, rel)
        digests.pop(rel, None)
        changed += 1
    _write_digests(digests_path, digests)
    return changed


def _replace_file(target: Path, rel: str, data: bytes) -> list[str | int]:
    """Write `target/rel` atomically (temp file + rename); its [size, mtime_ns]."""
    path = target.joinpath(*_safe_relative(rel).parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, _FILE_MODE)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def _remove_file(target: Path, rel: str) -> None:
    """Remove `target/rel`, and the folders it leaves empty (up to `target`)."""
    path = target.joinpath(*_safe_relative(rel).parts)
    path.unlink(missing_ok=True)
    parent = path.parent
    while parent != target and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
