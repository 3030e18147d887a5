"""Compose `configs/` into one tree for one environment, with a source map.

Hydra composes what it is good at: the root `platform.yaml`, its defaults list (the `env`
group overlay) and command-line overrides in Hydra's grammar. Team files are *not* merged
by Hydra: merging N files into one OmegaConf tree is quadratic (see NOTES.md), so each team
is loaded on its own with libyaml and the environment's `teams:` overlay and `teams.*`
overrides are applied to it. Cost stays linear in the number of team files.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.cache import BuildCache, code_fingerprint, digest, file_digest, versions
from compiler.config_layout import (
    CLI_FILE,
    ROOT_CONFIG,
    TEAMS_DIR,
    YAML_SUFFIXES,
    config_groups,
)
from compiler.confine import (
    RESOLVER_HINT,
    defaults_problems,
    link_problems,
    override_problems,
    package_problem,
    resolver_problems,
)
from compiler.diagnostics import Diagnostic, Span, did_you_mean, error, has_errors
from compiler.workers import fork_safe, map_unordered
from compiler.yaml_source import (
    LoadedYaml,
    NeedsPositions,
    Path_,
    SourceIndex,
    SourceMap,
    fast_load,
    read_yaml,
    walk,
)
from schemas.team import TeamSpec

MAX_TEAMS = 5000


@dataclass
class Composed:
    """The composed config of one environment, before validation."""

    environment: str
    root: dict[str, Any]
    teams: dict[str, dict[str, Any]]
    team_files: dict[str, tuple[str, ...]]
    """Team → its config files, relative to the configs folder (for ownership and caching)."""
    sources: SourceIndex
    configs_dir: Path
    files: dict[str, str] = field(default_factory=dict)
    """Every config file read, config-relative path → display path."""
    prevalidated: dict[str, TeamSpec] = field(default_factory=dict)
    """Teams that loaded and validated without a problem. Their raw tree is in `teams` only
    when it was loaded in this process (not for workers' or the cache's results)."""
    credentials: dict[str, list[tuple[Path_, str]]] = field(default_factory=dict)
    """Credential findings in the raw trees of the prevalidated teams (see secrets_scan)."""


@dataclass(frozen=True)
class _Override:
    text: str
    kind: str  # "group" | "root" | "team"
    key: str
    type: str  # CHANGE | ADD | FORCE_ADD | DEL
    value: Any
    span: Span


def display_path(path: Path) -> str:
    """How a file is named in diagnostics: relative to the working directory when inside it."""
    return _display_path(str(path), os.getcwd())


@functools.lru_cache(maxsize=65536)
def _display_path(path: str, cwd: str) -> str:
    """Resolving is a few system calls per file: done once per file in a process."""
    try:
        return str(Path(path).resolve().relative_to(Path(cwd).resolve()))
    except ValueError:
        return path


def _options(configs_dir: Path, group: str) -> list[str]:
    folder = configs_dir / group
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.iterdir() if p.suffix in YAML_SUFFIXES)


def _parse_overrides(
    overrides: Sequence[str], groups: list[str], cache: BuildCache | None = None
) -> tuple[list[_Override], list[Diagnostic]]:
    """Hydra's parse of the overrides, remembered in `cache` when every one parsed: a warm
    run (`mlplat validate --env prod`) then never imports Hydra's parser."""
    if cache is None or not cache.enabled:
        return _parse_overrides_with_hydra(overrides, groups)
    failed: list[tuple[list[_Override], list[Diagnostic]]] = []

    def parse() -> list[list[Any]] | None:
        parsed, diags = _parse_overrides_with_hydra(overrides, groups)
        if diags:  # a problem: reported, never kept
            failed.append((parsed, diags))
            return None
        return [[o.kind, o.key, o.type, o.value] for o in parsed]

    key = digest("overrides", list(overrides), groups, _hydra_code())
    fields = cache.json_value("overrides", key, parse)
    if fields is None:
        return failed[0]
    parsed, col = [], 1
    for text, (kind, okey, type_name, value) in zip(overrides, fields, strict=True):
        parsed.append(_Override(text, kind, okey, type_name, value, Span(CLI_FILE, 1, col)))
        col += len(text) + 1
    return parsed, []


def _hydra_code() -> tuple[str, dict[str, str]]:
    """What Hydra's results depend on besides their inputs: this module and Hydra itself."""
    return code_fingerprint("compiler/compose.py"), versions("hydra-core", "omegaconf")


def _parse_overrides_with_hydra(
    overrides: Sequence[str], groups: list[str]
) -> tuple[list[_Override], list[Diagnostic]]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed: list[_Override] = []
    diags: list[Diagnostic] = []
    col = 1
    for text in overrides:
        span = Span(CLI_FILE, 1, col)
        col += len(text) + 1
        try:
            (override,) = parser.parse_overrides([text])
        except HydraException as exc:
            message = str(exc).splitlines()[0]
            diags.append(
                error(
                    "E010",
                    f"cannot parse override '{text}': {message}",
                    span,
                    "write key=value, +key=value (add), ++key=value (force) or ~key (delete)",
                )
            )
            continue
        if override.is_sweep_override():
            diags.append(
                error(
                    "E010",
                    f"override '{text}' is a sweep; mlplat takes one value per key",
                    span,
                    "give a single value, e.g. key=3",
                )
            )
            continue
        key = override.key_or_group
        if override.package is not None:
            diags.append(
                error(
                    "E010", f"override '{text}' sets a package; that is not supported", span, None
                )
            )
            continue
        if key == "hydra" or key.startswith(("hydra.", "hydra/")):
            diags.append(
                error(
                    "E010",
                    f"override '{text}' changes Hydra itself",
                    span,
                    "override keys of the platform spec, e.g. platform.region=eu-west-1",
                )
            )
            continue
        if key in groups:
            kind = "group"
        elif key == TEAMS_DIR or key.startswith(TEAMS_DIR + "."):
            kind = "team"
        else:
            kind = "root"
        type_name = override.type.name
        value = None if type_name == "DEL" else override.value()
        parsed.append(_Override(text, kind, key, type_name, value, span))
    return parsed, diags


def _defaults_entries(root: dict[str, Any]) -> list[str | tuple[str, str]]:
    """The defaults list as '_self_', config names and (group, choice) pairs."""
    entries: list[str | tuple[str, str]] = []
    defaults = root.get("defaults")
    for entry in defaults if isinstance(defaults, list) else []:
        if isinstance(entry, str):
            entries.append(entry)
        elif isinstance(entry, dict) and len(entry) == 1:
            ((group, choice),) = entry.items()
            if isinstance(group, str) and isinstance(choice, str):
                entries.append((group.lstrip("/"), choice))
    return entries


def _default_choice(root: dict[str, Any], group: str) -> str | None:
    defaults = root.get("defaults")
    if isinstance(defaults, list):
        for entry in defaults:
            if isinstance(entry, dict) and group in entry:
                value = entry[group]
                return value if isinstance(value, str) else None
    return None


def _defaults_span(root_src: SourceMap, root: dict[str, Any], group: str) -> Span | None:
    defaults = root.get("defaults")
    if isinstance(defaults, list):
        for index, entry in enumerate(defaults):
            if isinstance(entry, dict) and group in entry:
                return root_src.locate(("defaults", index, group))
    return root_src.locate(("defaults",))


class ResolverRefused(Exception):
    """The composed config calls a resolver: it is not resolved (E014)."""


def _hydra_compose_cached(
    configs_dir: Path, overrides: list[str], cache: BuildCache | None
) -> tuple[dict[str, Any] | None, dict[str, str], Exception | None]:
    """`_hydra_compose`, remembered in `cache` under everything Hydra may read: the bytes of
    every config file outside `teams/` (and their names), the overrides, this module and
    Hydra's versions. A warm run never imports Hydra; failures are never cached."""
    if cache is None or not cache.enabled:
        return _hydra_compose(configs_dir, overrides)
    others = sorted(
        path
        for top in configs_dir.iterdir()
        if top.name != TEAMS_DIR
        for path in ([top] if not top.is_dir() else top.rglob("*"))
        if path.is_file()
    )
    names = [path.relative_to(configs_dir).as_posix() for path in others]
    key = digest("hydra-compose", overrides, names, file_digest(others), _hydra_code())
    failed: list[Exception] = []

    def compose() -> list[Any] | None:
        tree, choices, exc = _hydra_compose(configs_dir, overrides)
        if exc is not None or tree is None:
            failed.append(exc or RuntimeError("no config"))
            return None
        return [tree, choices]

    composed = cache.json_value("compose", key, compose)
    if composed is None:
        return None, {}, failed[0]
    return composed[0], composed[1], None


def _hydra_compose(
    configs_dir: Path, overrides: list[str]
) -> tuple[dict[str, Any] | None, dict[str, str], Exception | None]:
    """Run Hydra's compose API; returns (tree, group choices, error)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(configs_dir.resolve()), version_base="1.3"):
            cfg = compose(ROOT_CONFIG, overrides=overrides, return_hydra_config=True)
            choices = {
                str(k): str(v)
                for k, v in cfg.hydra.runtime.choices.items()
                if v is not None and not str(k).startswith("hydra/")
            }
            with open_dict(cfg):
                del cfg["hydra"]
            # Every file Hydra read was checked before (compiler.confine); this holds whatever
            # Hydra composed, so no resolver ever runs, even from a file that check missed.
            unresolved = OmegaConf.to_container(cfg, resolve=False)
            if resolver_problems(unresolved, Span(CLI_FILE)):
                return None, {}, ResolverRefused()
            tree = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        return None, {}, exc
    assert isinstance(tree, dict)
    return {str(k): v for k, v in tree.items()}, choices, None


def _composition_diag(
    exc: Exception, root_overrides: list[_Override], candidates: dict[str, Any], root_span: Span
) -> Diagnostic:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for ov in root_overrides:
        if f"'{ov.key}'" in message or f"'{ov.key.split('.')[-1]}'" in message:
            if ov.type == "CHANGE" and "Could not override" in message:
                parts = ov.key.split(".")
                level: Any = candidates
                for part in parts[:-1]:
                    level = level.get(part) if isinstance(level, dict) else None
                options = level.keys() if isinstance(level, dict) else []
                hint = did_you_mean(parts[-1], options, fallback_list=False)
                hint = f"{hint} " if hint else ""
                return error(
                    "E011",
                    f"override '{ov.text}' matches no key of the config",
                    ov.span,
                    f"{hint}To add a new key, write +{ov.text}",
                )
            return error(
                "E011", f"override '{ov.text}' cannot be applied: {message}", ov.span, None
            )
    full_key = getattr(exc, "full_key", None)
    detail = f" (at '{full_key}')" if full_key else ""
    return error(
        "E013",
        f"composing the config failed: {message}{detail}",
        root_span,
        "check interpolations like ${platform.region} and the defaults list",
    )


def _confinement(loaded: LoadedYaml, display: str, *, root: bool) -> list[Diagnostic]:
    """Problems that would let a file Hydra composes read outside configs/ (compiler.confine)."""
    problems = [
        *resolver_problems(loaded.data, loaded.sources),
        *defaults_problems(loaded.data, loaded.sources, display, root=root),
    ]
    header = package_problem(loaded.package, display)
    return [header, *problems] if header else problems


def _merge(
    base: dict[str, Any],
    base_src: SourceMap | None,
    top: dict[str, Any],
    top_src: SourceMap | None,
    path: Path_,
    conflict: list[Path_] | None,
) -> None:
    """Merge ``top`` into ``base`` in place (dicts recursively, everything else replaced).

    With ``conflict`` set, a leaf set by both sides is recorded there instead of replaced
    (files of one team folder must not set the same key twice). Without source maps only
    the data is merged (the fast path; positions are rebuilt when needed).
    """
    for key, value in top.items():
        child = (*path, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], base_src, value, top_src, child, conflict)
            continue
        if key in base and conflict is not None:
            conflict.append(child)
            continue
        if key in base and base_src is not None:
            _drop_sources(base_src, child)
        base[key] = value
        if base_src is None or top_src is None:
            continue
        for sub, _ in walk(value, child):
            if sub in top_src.values:
                base_src.values[sub] = top_src.values[sub]
            if sub in top_src.keys:
                base_src.keys[sub] = top_src.keys[sub]


def _drop_sources(src: SourceMap, prefix: Path_) -> None:
    n = len(prefix)
    for table in (src.keys, src.values):
        for p in [p for p in table if p[:n] == prefix]:
            del table[p]


def _discover_teams(configs_dir: Path) -> tuple[dict[str, list[Path]], list[Diagnostic]]:
    teams_dir = configs_dir / TEAMS_DIR
    found: dict[str, list[Path]] = {}
    diags: list[Diagnostic] = []
    if not teams_dir.is_dir():
        return found, diags
    for entry in sorted(os.scandir(teams_dir), key=lambda e: e.name):
        if entry.name.startswith((".", "_")):
            continue
        path = Path(entry.path)
        if entry.is_dir():
            files = sorted(
                (
                    p
                    for p in path.rglob("*")
                    if p.suffix in YAML_SUFFIXES
                    and p.is_file()
                    and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
                ),
                key=lambda p: p.relative_to(path).as_posix(),
            )
            if not files:
                diags.append(
                    error(
                        "E004",
                        f"team folder '{entry.name}' has no YAML files",
                        Span(display_path(path)),
                        "add a team.yaml, or remove the folder",
                    )
                )
                continue
            name = entry.name
        elif path.suffix in YAML_SUFFIXES:
            name, files = path.stem, [path]
        else:
            continue
        if name in found:
            diags.append(
                error(
                    "E201",
                    f"team '{name}' is defined by both a file and a folder",
                    Span(display_path(path)),
                    "keep either teams/<name>.yaml or teams/<name>/",
                )
            )
            continue
        found[name] = files
        if len(found) > MAX_TEAMS:
            diags.append(
                error(
                    "E003",
                    f"more than {MAX_TEAMS} teams in '{display_path(teams_dir)}'",
                    Span(display_path(path)),
                    "split the organisation into several config repositories",
                )
            )
            return {}, diags
    return found, diags


def _team_name_problem(name: str, span: Span) -> Diagnostic | None:
    from schemas.types import _DNS_LABEL

    if len(name) > 40 or not _DNS_LABEL.match(name):
        return error(
            "E105",
            f"team name '{name}' (from the file name) is not a valid name",
            span,
            "rename the file: lower-case letters, digits and '-', at most 40 characters",
        )
    return None


def _load_team(
    name: str, files: list[Path]
) -> tuple[dict[str, Any] | None, SourceMap, list[Diagnostic]]:
    tree: dict[str, Any] = {}
    src = SourceMap()
    diags: list[Diagnostic] = []
    for path in files:
        loaded: LoadedYaml = read_yaml(str(path), display_path(path))
        diags.extend(loaded.diagnostics)
        if loaded.data is None:
            continue
        diags.extend(resolver_problems(loaded.data, loaded.sources, only_known=True))
        if not isinstance(loaded.data, dict):
            diags.append(
                error(
                    "E004",
                    f"a team file must be a mapping of keys, not a {type(loaded.data).__name__}",
                    loaded.sources.locate(()) or Span(display_path(path)),
                    "start the file with keys such as owners:, quotas:, pipelines:",
                )
            )
            continue
        if not tree:
            tree, src = loaded.data, loaded.sources
            src.values.setdefault((), Span(display_path(path)))
            continue
        conflicts: list[Path_] = []
        _merge(tree, src, loaded.data, loaded.sources, (), conflicts)
        for path_ in conflicts:
            new = loaded.sources.locate(path_, at_key=True) or Span(display_path(path))
            diags.append(
                error(
                    "E002",
                    f"key '{'.'.join(map(str, path_))}' of team '{name}' is set in two files",
                    new,
                    f"it is also set at {src.locate(path_, at_key=True)}; keep it in one file",
                )
            )
    return (None if has_errors(diags) else tree), src, diags


def _load_team_fast(files: list[Path]) -> dict[str, Any]:
    """A team's merged tree without positions; `NeedsPositions` when anything needs explaining."""
    tree: dict[str, Any] = {}
    for index, path in enumerate(files):
        data = fast_load(str(path))
        if not isinstance(data, dict):
            raise NeedsPositions
        if index == 0:
            tree = data
            continue
        conflicts: list[Path_] = []
        _merge(tree, None, data, None, (), conflicts)
        if conflicts:
            raise NeedsPositions
    return tree


PARALLEL_MIN_TEAMS = 64
"""Below this many teams, forking workers costs more than it saves."""


def _clean_team(
    task: tuple[str, list[Path], dict[str, Any] | None, list[_Override], bool],
) -> Any:
    """(name, (spec, credential findings), raw tree) of a team with nothing to explain, else
    (name, None, None). Loads, overlays, overrides and validates one team without positions;
    the raw tree comes back only when asked (workers leave it: it would cost pickling)."""
    from pydantic import ValidationError

    from compiler.secrets_scan import credentials_in_tree

    name, paths, overlay, overrides, keep_tree = task
    try:
        tree = _load_team_fast(paths)
    except NeedsPositions:
        return name, None, None
    if overlay is not None:
        _merge(tree, None, copy.deepcopy(overlay), None, (), None)
    teams = {name: tree}
    for ov in overrides:
        if _apply_team_override(ov, teams) is not None:
            return name, None, None
    try:
        spec = TeamSpec.model_validate(teams[name])
    except ValidationError:
        return name, None, None
    found = list(credentials_in_tree(teams[name], (TEAMS_DIR, name)))
    return name, (spec, found), teams[name] if keep_tree else None


def _team_key(paths: list[Path], overlay: dict[str, Any] | None, overrides: list[_Override]) -> str:
    """What a team's validated spec depends on: its files, its overlay, its overrides and
    the code that validates it."""
    return digest(
        "team-spec",
        file_digest(paths),
        overlay,
        [ov.text for ov in overrides],
        code_fingerprint(
            "schemas",
            "compiler/compose.py",
            "compiler/confine.py",
            "compiler/yaml_source.py",
            "compiler/secrets_scan.py",
        ),
        versions("pydantic", "pydantic-core", "email-validator", "croniter", "PyYAML"),
    )


def _decode_team(data: bytes) -> tuple[TeamSpec, tuple[tuple[Path_, str], ...]]:
    entry = json.loads(data)
    spec = TeamSpec.model_validate_json(entry["spec"])
    return spec, tuple((tuple(path), what) for path, what in entry["credentials"])


def _clean_teams(
    loadable: dict[str, list[Path]],
    overlays: dict[str, tuple[dict[str, Any], SourceMap]],
    overrides: dict[str, list[_Override]],
    jobs: int,
    cache: BuildCache,
    trees: dict[str, dict[str, Any]],
) -> dict[str, tuple[TeamSpec, list[tuple[Path_, str]]]]:
    """Teams with nothing to explain, validated: from the cache when their inputs did not
    change, else loaded and validated here or, for large organisations, on `jobs` workers."""
    clean: dict[str, tuple[TeamSpec, list[tuple[Path_, str]]]] = {}
    keys: dict[str, str] = {}
    tasks = []
    for name, paths in loadable.items():
        overlay = overlays[name][0] if name in overlays else None
        team_overrides = overrides.get(name, [])
        if cache.folder is not None or cache.resident:  # on disk, or in memory only
            keys[name] = _team_key(paths, overlay, team_overrides)
            hit = cache.load("teams", keys[name], _decode_team)
            if hit is not None:
                clean[name] = (hit[0], list(hit[1]))
                continue
        tasks.append((name, paths, overlay, team_overrides))
    parallel = jobs > 1 and len(tasks) >= PARALLEL_MIN_TEAMS and fork_safe()
    work = [(*task, not parallel) for task in tasks]
    for name, result, tree in map_unordered(_clean_team, work, jobs if parallel else 1):
        if result is None:
            continue
        clean[name] = result
        if tree is not None:
            trees[name] = tree
        if name in keys:
            spec, found = result
            entry = {
                "spec": spec.model_dump_json(),
                "credentials": [[list(p), w] for p, w in found],
            }
            cache.put("teams", keys[name], json.dumps(entry).encode(), (spec, tuple(found)))
    # one order whichever teams came from the cache: diagnostics are reported in it
    return {name: clean[name] for name in loadable if name in clean}


def _team_positions(
    name: str,
    files: list[Path],
    overlay: tuple[dict[str, Any], SourceMap] | None,
    overrides: list[_Override],
) -> SourceMap:
    """Recompute where each key of a team was written: files, then overlay, then overrides."""
    tree, src, _ = _load_team(name, files)
    if tree is None:
        return src
    if overlay is not None:
        _merge(tree, src, copy.deepcopy(overlay[0]), overlay[1], (), None)
    teams, sources = {name: tree}, {name: src}
    for ov in overrides:
        _apply_team_override(ov, teams, sources)
    return sources[name]


def _apply_team_override(
    ov: _Override, teams: dict[str, dict[str, Any]], team_src: dict[str, SourceMap] | None = None
) -> Diagnostic | None:
    parts: list[str | int] = list[str | int](ov.key.split("."))[1:]
    if not parts:
        return error(
            "E010", "override the keys of one team, e.g. teams.fraud.quotas.gpus=8", ov.span, None
        )
    team = str(parts[0])
    if team not in teams:
        return error(
            "E011",
            f"override '{ov.text}' names team '{team}', which does not exist",
            ov.span,
            did_you_mean(team, teams),
        )
    node: Any = teams[team]
    rel = parts[1:]
    if not rel:
        if ov.type == "DEL":
            del teams[team]
            return None
        if not isinstance(ov.value, dict):
            return error(
                "E010", f"override '{ov.text}' must set a mapping for a team", ov.span, None
            )
        teams[team] = ov.value
        if team_src is not None:
            team_src[team] = SourceMap(values={(): ov.span})
        return None
    for i, part in enumerate(rel[:-1]):
        if isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            rel[i] = int(part)
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            options = node.keys() if isinstance(node, dict) else []
            return error(
                "E011",
                f"override '{ov.text}' matches nothing: no key '{part}'",
                ov.span,
                did_you_mean(str(part), options),
            )
    last = rel[-1]
    if isinstance(node, list) and str(last).isdigit():
        last = int(last)
        exists = last < len(node)
    elif isinstance(node, dict):
        exists = last in node
    else:
        return error(
            "E011", f"override '{ov.text}' goes below a value that is not a mapping", ov.span, None
        )
    src = team_src[team] if team_src is not None else SourceMap()
    path = (*tuple(rel[:-1]), last)
    if ov.type in ("CHANGE", "DEL") and not exists:
        options = node.keys() if isinstance(node, dict) else []
        hint = did_you_mean(str(last), options, fallback_list=False)
        add = f"To add a new key, write +{ov.text}" if ov.type == "CHANGE" else None
        return error(
            "E011",
            f"override '{ov.text}' matches nothing: no key '{last}'",
            ov.span,
            " ".join(h for h in (hint, add) if h) or None,
        )
    if ov.type == "ADD" and exists:
        return error(
            "E011",
            f"override '{ov.text}' adds '{last}', which is already set",
            ov.span,
            f"to change it write {ov.text.lstrip('+')}",
        )
    _drop_sources(src, path)
    if ov.type == "DEL":
        del node[last]
        return None
    if isinstance(node, list) and isinstance(last, int) and last >= len(node):
        return error("E011", f"override '{ov.text}' is past the end of the list", ov.span, None)
    node[last] = ov.value
    src.values[path] = ov.span
    src.keys[path] = ov.span
    return None


def compose_config(
    configs_dir: Path,
    overrides: Sequence[str],
    jobs: int = 1,
    cache: BuildCache | None = None,
) -> tuple[Composed | None, list[Diagnostic]]:
    """Compose one environment's config tree. Returns None with diagnostics when it cannot."""
    configs_dir = Path(configs_dir)
    links = link_problems(configs_dir)  # before anything is read through a link
    if links:
        return None, links
    root_file = configs_dir / f"{ROOT_CONFIG}.yaml"
    if not root_file.is_file():
        return None, [
            error(
                "E004",
                f"no {ROOT_CONFIG}.yaml in '{display_path(configs_dir)}'",
                Span(display_path(configs_dir)),
                "point --configs at the folder holding platform.yaml",
            )
        ]
    groups = config_groups(configs_dir)
    parsed, diags = _parse_overrides(overrides, groups, cache)
    diags.extend(override_problems((ov.key, ov.value, ov.span) for ov in parsed))
    root_loaded = read_yaml(str(root_file), display_path(root_file))
    diags.extend(root_loaded.diagnostics)
    if has_errors(diags) or root_loaded.data is None:
        return None, diags
    root_data = root_loaded.data
    root_span = Span(display_path(root_file))
    if not isinstance(root_data, dict):
        return None, [
            error("E004", f"{ROOT_CONFIG}.yaml must be a mapping of keys", root_span, None)
        ]
    # What the root may reach is decided before the files its defaults list names are opened.
    diags.extend(_confinement(root_loaded, display_path(root_file), root=True))
    if has_errors(diags):
        return None, diags

    files = {root_file.relative_to(configs_dir).as_posix(): display_path(root_file)}
    candidates: dict[str, Any] = {}
    group_overrides = {ov.key: ov for ov in parsed if ov.kind == "group"}
    # Layers in the order Hydra merges them: the defaults list, with '_self_' where it stands
    # (Hydra puts it last when it is missing).
    entries = _defaults_entries(root_data)
    if "_self_" not in entries:
        entries.append("_self_")
    layers: list[SourceMap] = []
    for entry in entries:
        if entry == "_self_":
            layers.append(root_loaded.sources)
            _merge(
                candidates,
                SourceMap(),
                {k: v for k, v in root_data.items() if k != "defaults"},
                SourceMap(),
                (),
                None,
            )
            continue
        if isinstance(entry, tuple):
            group, default = entry
            choice = group_overrides[group].value if group in group_overrides else default
            options = _options(configs_dir, group)
            if choice not in options:
                where = (
                    group_overrides[group].span
                    if group in group_overrides
                    else (_defaults_span(root_loaded.sources, root_data, group) or root_span)
                )
                name = "environment" if group == "env" else f"option of '{group}'"
                return None, [
                    *diags,
                    error(
                        "E012",
                        f"unknown {name} '{choice}'",
                        where,
                        did_you_mean(str(choice), options),
                    ),
                ]
            rel_name = f"{group}/{choice}.yaml"
        else:
            rel_name = f"{entry}.yaml"
        layer_path = configs_dir / rel_name
        loaded = read_yaml(str(layer_path), display_path(layer_path))
        diags.extend(loaded.diagnostics)
        if loaded.data is None:
            continue
        diags.extend(_confinement(loaded, display_path(layer_path), root=False))
        if isinstance(entry, tuple) and loaded.package != "_global_":
            diags.append(
                error(
                    "E004",
                    f"{rel_name} must start with '# @package _global_'",
                    Span(display_path(layer_path)),
                    "overlays set keys at the top level (platform:, node_pools:, teams:)",
                )
            )
            continue
        if isinstance(loaded.data, dict):
            _merge(candidates, SourceMap(), loaded.data, SourceMap(), (), None)
        layers.append(loaded.sources)
        files[layer_path.relative_to(configs_dir).as_posix()] = display_path(layer_path)
    if has_errors(diags):
        return None, diags
    environment = (
        str(group_overrides["env"].value)
        if "env" in group_overrides
        else (_default_choice(root_data, "env") or "")
    )
    if not environment:
        return None, [
            *diags,
            error(
                "E012",
                "no environment selected",
                root_span,
                "add '- env: local' to the defaults list of platform.yaml",
            ),
        ]

    root_overrides = [ov for ov in parsed if ov.kind == "root"]
    hydra_overrides = [ov.text for ov in parsed if ov.kind in ("group", "root")]
    tree, _choices, exc = _hydra_compose_cached(configs_dir, hydra_overrides, cache)
    if isinstance(exc, ResolverRefused):
        return None, [
            *diags,
            error(
                "E014",
                "the composed config calls a resolver; specs may not use resolvers",
                root_span,
                RESOLVER_HINT,
            ),
        ]
    if exc is not None or tree is None:
        return None, [
            *diags,
            _composition_diag(
                exc or RuntimeError("no config"), root_overrides, candidates, root_span
            ),
        ]

    # Source map of the Hydra-composed part: the last layer that wrote a path wins.
    sources = SourceMap()
    override_spans: dict[Path_, Span] = {tuple(ov.key.split(".")): ov.span for ov in root_overrides}
    for path, _ in walk(tree):
        span = None
        for n in range(len(path), 0, -1):
            if path[:n] in override_spans:
                span = override_spans[path[:n]]
                break
        if span is not None:
            sources.values[path] = sources.keys[path] = span
            continue
        for layer in reversed(layers):
            if layer.has(path):
                sources.values[path] = layer.values[path]
                if path in layer.keys:
                    sources.keys[path] = layer.keys[path]
                break
    sources.values[()] = root_span

    team_overlays = tree.pop(TEAMS_DIR, None) or {}
    discovered, team_diags = _discover_teams(configs_dir)
    diags.extend(team_diags)
    if any(d.code == "E003" for d in team_diags):
        return None, diags
    team_files: dict[str, tuple[str, ...]] = {}
    loadable: dict[str, list[Path]] = {}
    for name, paths in discovered.items():
        problem = _team_name_problem(name, Span(display_path(paths[0])))
        if problem:
            diags.append(problem)
            continue
        team_files[name] = tuple(p.relative_to(configs_dir).as_posix() for p in paths)
        for p in paths:
            files[p.relative_to(configs_dir).as_posix()] = display_path(p)
        loadable[name] = paths

    if not isinstance(team_overlays, dict):
        diags.append(
            error(
                "E103",
                "'teams' in an overlay must map team names to their changes",
                sources.locate((TEAMS_DIR,)) or root_span,
                None,
            )
        )
        team_overlays = {}
    overlays: dict[str, tuple[dict[str, Any], SourceMap]] = {}
    for name, overlay_tree in team_overlays.items():
        span = sources.locate((TEAMS_DIR, name), at_key=True) or root_span
        if name not in discovered:
            diags.append(
                error(
                    "E202",
                    f"the overlay changes team '{name}', which has no file in teams/",
                    span,
                    did_you_mean(str(name), discovered),
                )
            )
            continue
        if not isinstance(overlay_tree, dict):
            diags.append(
                error("E103", f"the overlay of team '{name}' must be a mapping", span, None)
            )
            continue
        overlay_src = SourceMap()
        prefix = (TEAMS_DIR, name)
        for table_from, table_to in (
            (sources.values, overlay_src.values),
            (sources.keys, overlay_src.keys),
        ):
            for at, at_span in table_from.items():
                if at[:2] == prefix:
                    table_to[at[2:]] = at_span
        overlays[name] = (overlay_tree, overlay_src)
    _drop_sources(sources, (TEAMS_DIR,))
    overrides_of_team: dict[str, list[_Override]] = {}
    for ov in parsed:
        if ov.kind == "team":
            overrides_of_team.setdefault(ov.key.split(".")[1] if "." in ov.key else "", []).append(
                ov
            )

    # Teams that load and validate without a single problem can be handled by workers; any
    # team with something to explain is (re)done here, with positions and diagnostics.
    teams: dict[str, dict[str, Any]] = {}
    clean = _clean_teams(
        loadable, overlays, overrides_of_team, jobs, cache or BuildCache(None), teams
    )
    eager: dict[str, SourceMap] = {}  # teams whose positions were needed while loading
    for name, paths in loadable.items():
        if name in clean:
            continue
        try:
            teams[name] = _load_team_fast(paths)
        except NeedsPositions:
            data, src, load_diags = _load_team(name, paths)
            diags.extend(load_diags)
            eager[name] = src
            if data is not None:
                teams[name] = data
        if name in teams and name in overlays:
            _merge(teams[name], None, copy.deepcopy(overlays[name][0]), None, (), None)
    team_overrides: dict[str, list[_Override]] = {}
    for ov in parsed:
        if ov.kind != "team":
            continue
        target = ov.key.split(".")[1] if "." in ov.key else ""
        if target in clean:
            team_overrides.setdefault(target, []).append(ov)  # already applied by the worker
            continue
        problem = _apply_team_override(ov, teams)
        if problem:
            diags.append(problem)
        else:
            team_overrides.setdefault(target, []).append(ov)

    factories: dict[str, Callable[[], SourceMap]] = {}
    for name, paths in loadable.items():
        if name in eager and name not in overlays and name not in team_overrides:
            factories[name] = functools.partial(lambda src: src, eager[name])
        else:
            factories[name] = functools.partial(
                _team_positions, name, paths, overlays.get(name), team_overrides.get(name, [])
            )
    composed = Composed(
        environment=environment,
        root=tree,
        teams=teams,
        team_files=team_files,
        sources=SourceIndex(sources, factories, TEAMS_DIR),
        configs_dir=configs_dir,
        files=files,
        prevalidated={name: spec for name, (spec, _) in clean.items()},
        credentials={name: hits for name, (_, hits) in clean.items()},
    )
    return composed, diags
