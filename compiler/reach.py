"""Which environments a change reaches, so that a pull request plans every one it can affect.

An environment overlay (`configs/env/<name>.yaml`) reaches its own environment; every other
file under `configs/` (platform.yaml, policies.yaml, team files), the teams' step code and
the code that builds the platform reach them all; documentation and tests reach none.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from compiler.config_layout import ENV_GROUP, YAML_SUFFIXES, environments

BUILDS_EVERY_ENVIRONMENT = (
    "components/",
    "compiler/",
    "platform_iac/",
    "schemas/",
    "pyproject.toml",
    "requirements.lock",
    "Makefile",
)
"""Repository paths outside `configs/` whose change can change the plan of any environment."""
DEFAULT_BASES = ("main", "origin/main")


class ReachError(Exception):
    """The change cannot be computed (no git, unknown revision)."""


def reached(changed: Iterable[str], configs: str, names: Sequence[str]) -> dict[str, str]:
    """Environment → the first changed file (repository path) that reaches it, in the order
    of `names`. `configs`: the configs folder as a repository path ('configs')."""
    prefix = configs.strip("/") + "/" if configs.strip("/") not in ("", ".") else ""
    why: dict[str, str] = {}
    for path in sorted(set(changed)):
        if prefix and not path.startswith(prefix):
            if path.startswith(BUILDS_EVERY_ENVIRONMENT):
                for name in names:
                    why.setdefault(name, path)
            continue
        rel = PurePosixPath(path[len(prefix) :])
        if len(rel.parts) == 2 and rel.parts[0] == ENV_GROUP and rel.suffix in YAML_SUFFIXES:
            if rel.stem in names:
                why.setdefault(rel.stem, path)
            continue
        if rel.suffix in YAML_SUFFIXES:
            for name in names:
                why.setdefault(name, path)
    return {name: why[name] for name in names if name in why}


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=120, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        raise ReachError(f"cannot run git: {exc}") from None
    if done.returncode != 0:
        raise ReachError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout


def changed_files(repo: Path, base: str | None) -> tuple[str, list[str]]:
    """(the base revision used, repository paths changed since it): commits since the merge
    base of HEAD with `base` (default: main, else origin/main), plus uncommitted and untracked
    files. Renames count as both paths."""
    if base is None:
        for candidate in DEFAULT_BASES:
            try:
                _git(repo, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
            except ReachError:
                continue
            base = candidate
            break
        else:
            raise ReachError("no main branch to compare with: give --base REF")
    if Path(base).is_dir():
        raise ReachError(
            f"--env changed compares with a git revision; '{base}' is a folder (one "
            "environment's build): give --env ENV with it"
        )
    merge_base = _git(repo, "merge-base", "HEAD", base).strip()
    paths = _git(repo, "diff", "--name-only", "--no-renames", merge_base).splitlines()
    paths += _git(repo, "ls-files", "--others", "--exclude-standard").splitlines()
    return base, sorted({p for p in paths if p})


def environments_reached(configs: Path, base: str | None) -> dict[str, str]:
    """The environments of `configs` that the change since `base` reaches (see `reached`)."""
    try:
        top = _git(configs, "rev-parse", "--show-toplevel").strip()
    except ReachError:
        raise ReachError(
            f"'{configs}' is not in a git repository: --env changed needs one"
        ) from None
    repo = Path(top)
    _, paths = changed_files(repo, base)
    relative = configs.resolve().relative_to(repo.resolve()).as_posix()
    return reached(paths, relative, environments(configs))
