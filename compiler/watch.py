"""A resident plan: rebuild `build/<env>/` whenever a spec or a team's step code changes.

A fresh `mlplat plan` pays, on every run, for imports (kfp, Pulumi: ≈ 1.5 s), for reading
and decoding the cache entry of every unchanged team and for staging the whole build
folder. A `WatchSession` pays those once: the cache keeps decoded entries in memory (keyed
by the same content hashes as on disk, so nothing stale can be served), and each rebuild
rewrites only the files that changed.

Changes are found by polling file sizes and modification times (no extra dependency and
the same on every OS); a batch of saves is built once, after the files stop changing.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from compiler.build import BuildOptions
from compiler.frontend import FrontendResult, load_platform
from compiler.ir import PlatformIR
from compiler.team_packages import code_beside

Snapshot = dict[str, tuple[int, int]]
WATCHED_SUFFIXES = (".yaml", ".yml", ".py")


def snapshot(roots: Iterable[Path]) -> Snapshot:
    """(size, mtime) of every spec and Python file under `roots` (hidden folders skipped)."""
    found: Snapshot = {}
    pending = [str(root) for root in roots]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # removed while we looked: the next poll sees the result
        for entry in entries:
            if entry.name.startswith(".") or entry.name == "__pycache__":
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.name.endswith(WATCHED_SUFFIXES):
                    stat = entry.stat()
                    found[entry.path] = (stat.st_size, stat.st_mtime_ns)
            except OSError:
                continue
    return found


def changed_paths(before: Snapshot, after: Snapshot) -> list[str]:
    """Files added, removed or modified between two snapshots, sorted."""
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )


def team_code_roots(ir: PlatformIR | None) -> set[Path]:
    """The folders of the step code the compiled pipelines ship (the files their cache keys
    read, `kfp_backend.compile.team_code_files`)."""
    if ir is None:
        return set()
    from compiler.kfp_backend.compile import team_code_files

    return {path.parent for pipeline in ir.pipelines() for path in team_code_files(pipeline)}


def forget_modules(paths: Iterable[str]) -> list[str]:
    """Drop the modules loaded from `paths` so the next import reads the edited code.

    Steps' code may have been imported by this process (small rebuilds compile in-process);
    without this a rebuild would ship the code as it was when first imported.
    """
    targets = {os.path.realpath(p) for p in paths if p.endswith(".py")}
    if not targets:
        return []
    gone = [
        name
        for name, module in list(sys.modules.items())
        if (path := getattr(module, "__file__", None)) and os.path.realpath(path) in targets
    ]
    for name in gone:
        del sys.modules[name]
    importlib.invalidate_caches()
    return gone


@dataclass
class WatchSession:
    """The state a resident plan keeps between builds."""

    configs: Path
    overrides: list[str]
    build_dir: Path
    options: BuildOptions
    written: dict[str, bytes | str] | None = None
    """The files of the last build this session wrote, by path under `build/<env>/`."""
    written_to: Path | None = None
    roots: set[Path] = field(default_factory=set)
    warmed: bool = False

    def __post_init__(self) -> None:
        self.options.cache.keep_in_memory()
        self.roots = {self.configs}

    def frontend(self) -> FrontendResult:
        self.options.cache.begin_build()
        result = load_platform(
            self.configs, self.overrides, jobs=self.options.jobs, cache=self.options.cache
        )
        with code_beside(self.configs):
            self.roots = {self.configs, *team_code_roots(result.ir)}
        return result

    def previous_files(self, target: Path) -> Mapping[str, bytes | str] | None:
        """What this session last wrote to `target`, if the folder still holds it."""
        if self.written is None or self.written_to != target or not target.is_dir():
            return None
        return self.written

    def wrote(self, target: Path, files: dict[str, bytes | str]) -> None:
        self.written, self.written_to = files, target
        self.options.cache.end_build()

    def warm_up(self, ir: PlatformIR) -> None:
        """Once: load what the Pulumi program imports lazily, so that the plan of the first
        change does not wait for it."""
        if not self.warmed:
            from compiler.plan.sharded import warm_up

            warm_up(ir)
        self.warmed = True


def wait_for_change(
    roots: Callable[[], set[Path]],
    before: Snapshot,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Snapshot, list[str]]:
    """Poll until a watched file changes and then stays unchanged for one interval."""
    while True:
        sleep(interval)
        now = snapshot(roots())
        if now == before:
            continue
        while True:  # let a batch of saves (or an editor's temp-file dance) finish
            sleep(interval)
            settled = snapshot(roots())
            if settled == now:
                return now, changed_paths(before, now)
            now = settled
