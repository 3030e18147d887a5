"""Write `build/<env>/` atomically: a failed or interrupted run leaves the previous build intact.

Files are staged in a sibling folder and swapped in with two renames; a crash between
them is repaired by the next run (the previous build is restored from its parked copy).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path


def _recover(target: Path) -> None:
    parked = target.with_name(f".{target.name}.previous")
    if parked.exists():
        if target.exists():
            shutil.rmtree(parked, ignore_errors=True)
        else:
            os.rename(parked, target)


def write_tree(target: Path, files: Mapping[str, bytes | str]) -> None:
    """Replace folder ``target`` by exactly ``files`` (relative POSIX path → content)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        for rel, content in sorted(files.items()):
            path = staging / rel
            if (
                path.resolve().parent != staging.resolve()
                and staging.resolve() not in path.resolve().parents
            ):
                raise ValueError(f"refusing to write outside the build folder: {rel}")
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode("utf-8") if isinstance(content, str) else content
            with open(path, "wb") as handle:
                handle.write(data)
        os.chmod(staging, 0o755)
        parked = target.with_name(f".{target.name}.previous")
        if target.exists():
            os.rename(target, parked)
        os.rename(staging, target)
        shutil.rmtree(parked, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _recover(target)
        raise
