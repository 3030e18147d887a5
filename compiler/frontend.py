"""The frontend in one call: compose → validate → link. Never raises for bad input."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from compiler.cache import BuildCache
from compiler.compose import Composed, compose_config, display_path
from compiler.config_layout import ENV_GROUP, TEAMS_DIR, YAML_SUFFIXES
from compiler.diagnostics import Diagnostic, Span, has_errors, sort_key, unique
from compiler.ir import PlatformIR
from compiler.link import link
from compiler.policy.org import check_org_policies
from compiler.validate import validate_composed
from compiler.yaml_source import Locator, SourceMap, read_yaml


@dataclass(frozen=True)
class FrontendResult:
    ir: PlatformIR | None
    diagnostics: list[Diagnostic]
    composed: Composed | None

    @property
    def ok(self) -> bool:
        """Valid and within policy: the only state anything is built or deployed from."""
        return self.ir is not None and not has_errors(self.diagnostics)

    @property
    def sources(self) -> Locator:
        return self.composed.sources if self.composed else SourceMap()


def load_platform(
    configs_dir: Path | str,
    overrides: Sequence[str] = (),
    *,
    today: date | None = None,
    jobs: int = 1,
    cache: BuildCache | None = None,
    every_file: bool = True,
) -> FrontendResult:
    """Build the IR of one environment from a configs folder and Hydra-style overrides.

    Organisation policies are part of validation; ``today`` decides which exceptions expired.
    ``every_file``: also parse the YAML files this environment does not read (the other
    overlays), so a change that breaks another environment fails here too.
    """
    composed, diags = compose_config(Path(configs_dir), list(overrides), jobs, cache)
    if every_file:
        read = set(composed.files) if composed is not None else set()
        unread = unread_file_problems(Path(configs_dir), read, composed is not None)
        diags = unique([*diags, *unread])
    if composed is None:
        return FrontendResult(None, diags, None)
    parsed, validation = validate_composed(composed)
    diags.extend(validation)
    ir, link_diags = link(parsed, cache, incomplete=True)
    diags.extend(link_diags)
    complete = not has_errors(diags) and not parsed.invalid_teams
    if ir is not None:
        sources = composed.sources
        root = sources.locate(()) or Span(str(configs_dir))
        found = check_org_policies(
            ir, lambda path, key: sources.locate(path, at_key=key) or root, today
        )
        # Policies also run on what linked when something else did not: one error never
        # hides another independent of it (a quota above capacity and above the policy's
        # maximum). Findings about what is missing from such an IR are left out.
        diags.extend(found if complete else independent_findings(found, parsed.invalid_teams))
        if not complete:
            ir = None
    # An IR that breaks only organisation policies is still complete: `mlplat check` runs the
    # security baseline on it too. `ok` stays false, so nothing builds or deploys from it.
    only_policy = all(d.code.startswith("G") for d in diags if d.is_error)
    return FrontendResult(ir if only_policy else None, diags, composed)


def independent_findings(found: list[Diagnostic], invalid_teams: Iterable[str]) -> list[Diagnostic]:
    """Policy findings that hold whatever the errors elsewhere: not 'an exception waives
    nothing' (what it waives may be an object left out), nor an exception naming a team
    that failed validation."""
    teams = {f"'{name}'" for name in invalid_teams}
    return [
        d
        for d in found
        if d.code != "G113"
        and not (d.code == "E202" and any(f"names team {t}," in d.message for t in teams))
    ]


def config_files(configs_dir: Path) -> list[Path]:
    """Every YAML file mlplat may read under `configs_dir`, sorted. Names starting with '.'
    or '_' are ignored (as team discovery ignores them); symbolic links are not followed."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(configs_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in files:
            path = Path(folder) / name
            if (
                path.suffix in YAML_SUFFIXES
                and not name.startswith((".", "_"))
                and not path.is_symlink()
            ):
                found.append(path)
    return sorted(found)


def unread_file_problems(
    configs_dir: Path, read: Iterable[str], teams_loaded: bool = True
) -> list[Diagnostic]:
    """Syntax problems (E001-E004) of the YAML files under `configs_dir` that a composition did
    not read (`read`: config-relative paths). Teams are read by every composition, so their
    files are skipped when it got that far (`teams_loaded`)."""
    done = set(read)
    diags: list[Diagnostic] = []
    for path in config_files(configs_dir):
        rel = path.relative_to(configs_dir)
        if rel.as_posix() in done or (teams_loaded and rel.parts[0] == TEAMS_DIR):
            continue
        diags.extend(read_yaml(str(path), display_path(path)).diagnostics)
    return diags


@dataclass
class EnvironmentsResult:
    """The frontend of several environments: each one's result, and every problem once."""

    results: dict[str, FrontendResult]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values()) and not has_errors(self.diagnostics)


def load_environments(
    configs_dir: Path | str,
    names: Sequence[str],
    overrides: Sequence[str] = (),
    *,
    today: date | None = None,
    jobs: int = 1,
    cache: BuildCache | None = None,
) -> EnvironmentsResult:
    """`load_platform` for each environment of `names`, each problem reported once.

    A problem found in only some of the environments carries a note naming them. Team files
    are validated once for all environments whose overlay leaves them unchanged (through
    `cache`: an unchanged team has the same key in each of them)."""
    configs = Path(configs_dir)
    # Decoded team specs (and linked objects) stay in memory from one environment to the
    # next: a team no overlay changes is loaded and validated once, even without a cache folder.
    shared = cache if cache is not None else BuildCache(None)
    shared.keep_in_memory()
    shared.begin_build()
    results: dict[str, FrontendResult] = {}
    read: set[str] = set()
    found: dict[tuple[str, Span, str], tuple[Diagnostic, list[str]]] = {}
    for name in names:
        result = load_platform(
            configs,
            [f"{ENV_GROUP}={name}", *overrides],
            today=today,
            jobs=jobs,
            cache=shared,
            every_file=False,
        )
        results[name] = result
        if result.composed is not None:
            read.update(result.composed.files)
        for diag in result.diagnostics:
            slot = found.setdefault((diag.code, diag.span, diag.message), (diag, []))
            slot[1].append(name)
    diagnostics = []
    for diag, where in found.values():
        own = len(where) == 1 and Path(diag.span.file).parts[-2:] in _overlay_names(where[0])
        if len(where) < len(names) and not own:
            listed = ", ".join(where)
            noun = "environment" if len(where) == 1 else "environments"
            diag = Diagnostic(
                diag.code,
                diag.message,
                diag.span,
                diag.hint,
                diag.severity,
                (*diag.notes, f"in {noun} {listed}"),
            )
        diagnostics.append(diag)
    composed_all = all(r.composed is not None for r in results.values())
    diagnostics.extend(unread_file_problems(configs, read, composed_all and bool(results)))
    return EnvironmentsResult(results, sorted(unique(diagnostics), key=sort_key))


def _overlay_names(env: str) -> set[tuple[str, ...]]:
    """How the overlay of `env` ends as a path: its problems need no note naming `env`."""
    return {(ENV_GROUP, f"{env}{suffix}") for suffix in YAML_SUFFIXES}
