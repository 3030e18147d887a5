"""The layout of a configs folder: names only, no parsing, so that commands can list
environments (and a cached validation can answer) without importing the schemas."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_CONFIG = "platform"
TEAMS_DIR = "teams"
ENV_GROUP = "env"
YAML_SUFFIXES = (".yaml", ".yml")
CLI_FILE = "<command line>"


def config_groups(configs_dir: Path) -> list[str]:
    return sorted(
        entry.name
        for entry in os.scandir(configs_dir)
        if entry.is_dir() and entry.name != TEAMS_DIR and not entry.name.startswith((".", "_"))
    )


def environments(configs_dir: Path | str) -> list[str]:
    """The environments of a configs folder: its `env/` overlays."""
    folder = Path(configs_dir) / ENV_GROUP
    if not Path(configs_dir).is_dir() or ENV_GROUP not in config_groups(Path(configs_dir)):
        return []
    return sorted(
        p.stem for p in folder.iterdir() if p.suffix in YAML_SUFFIXES and not p.is_symlink()
    )
