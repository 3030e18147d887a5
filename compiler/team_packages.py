"""Which step code a team may run: the modules of its own package under `components/`.

A python step's `function: <module>:<function>` is read (never imported) by the compiler
and shipped as source to the step's container. Each team's code is reviewed by that team
(CODEOWNERS lists `/components/<package>/`), so a step may only name a module of its own
team's package: `components.<package>.<module>`, where the package is the team name with
each `-` written `_` (Python names have no hyphens; team names are DNS labels, which have
no `_`, so two teams never share a package). Anything else (`os:system`, `this:s`, another
team's `components.search.data:...`) is refused before any code is looked at.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

COMPONENTS = "components"
"""The top-level package that holds every team's step code."""

PLATFORM_STEP_MODULES = frozenset({"compiler.features.join", "compiler.features.publish"})
"""Modules of mlplat itself whose functions run in steps that linking adds (a training
frame's join): read from mlplat's own folder, never from the code root; a team spec that
names one is still refused (link stage)."""

_override: Path | None = None


@lru_cache(maxsize=1)
def _installed_root() -> Path:
    # For a top-level package find_spec only locates it and runs nothing: the folder an
    # import of team code would read it from (this checkout's, when mlplat is installed).
    spec = importlib.util.find_spec(COMPONENTS)
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]).parent if locations else Path.cwd()


_MLPLAT_ROOT = Path(__file__).resolve().parent.parent
"""The folder that holds mlplat's own `compiler` package."""


def code_root() -> Path:
    """The folder that holds the `components/` package whose step code a build reads."""
    return _override or _installed_root()


def module_file(module: str) -> Path | None:
    """The source file of `module` under the code root, found on disk: nothing is imported
    (an import system lookup would run the parent packages' `__init__.py`)."""
    root = _MLPLAT_ROOT if module in PLATFORM_STEP_MODULES else code_root()
    base = os.path.join(str(root), *module.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return Path(candidate)
    return None


@contextmanager
def code_root_at(folder: Path | str) -> Iterator[None]:
    """Read team code from `folder`/components while the block runs (tests, tools)."""
    global _override
    previous, _override = _override, Path(folder).resolve()
    try:
        yield
    finally:
        _override = previous


@contextmanager
def code_beside(configs: Path | str) -> Iterator[None]:
    """While the block runs, read team code from the `components/` folder beside `configs/`
    when there is one (a configuration repository's layout), else from the installed
    `components` package; an enclosing `code_root_at` wins."""
    parent = Path(configs).resolve().parent
    if _override is None and (parent / COMPONENTS).is_dir():
        with code_root_at(parent):
            yield
    else:
        yield


def forget_code_root() -> None:
    _installed_root.cache_clear()


def team_package(team: str) -> str:
    """The package of a team's step code: `credit-risk` → `components.credit_risk`."""
    return f"{COMPONENTS}.{team.replace('-', '_')}"


def team_folder(team: str) -> str:
    """The folder of a team's step code, relative to the repository root."""
    return team_package(team).replace(".", "/")


def outside_team_code(team: str, ref: str) -> tuple[str, str] | None:
    """Why `ref` ('module:function') is not code of `team`'s own package (message, hint),
    or None when it is."""
    module = ref.partition(":")[0]
    package = team_package(team)
    if module.startswith(f"{package}.") and all(module.split(".")):
        return None
    parts = module.split(".")
    if parts[0] == COMPONENTS and len(parts) > 1 and f"{COMPONENTS}.{parts[1]}" != package:
        where = f"another team's package ({COMPONENTS}.{parts[1]})"
    elif module == package:
        where = f"the package {package} itself, not a module of it"
    else:
        where = f"module '{module}', outside {COMPONENTS}/"
    name = ref.partition(":")[2] or "<function>"
    return (
        f"function '{ref}' is in {where}; a step of team '{team}' runs only functions of "
        f"{package}.<module>",
        f"put the function in {team_folder(team)}/<module>.py and write "
        f"function: {package}.<module>:{name} (the package is the team name with '-' "
        "written '_', e.g. team 'credit-risk' → components.credit_risk); each team's step "
        "code is its own, reviewed by its owners",
    )
