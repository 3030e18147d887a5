"""Validate the composed tree against the pydantic spec models; errors become diagnostics.

pydantic reports every problem of a model at once; this module turns each into a
diagnostic with a stable code, the file/line/column the user wrote, and a hint (close
matches for unknown keys and choices, examples for formats).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from compiler.compose import Composed
from compiler.config_layout import TEAMS_DIR
from compiler.diagnostics import Diagnostic, Span, did_you_mean, error, unique
from compiler.yaml_source import Locator, Path_
from schemas.platform import RootSpec
from schemas.team import TeamSpec


@dataclass(frozen=True)
class ParsedSpec:
    """Validated spec objects as written (defaults applied, nothing resolved yet)."""

    environment: str
    root: RootSpec | None
    teams: dict[str, TeamSpec]
    invalid_teams: frozenset[str]
    composed: Composed


_CUSTOM_CODES = {
    "dns_label": "E105",
    "identifier": "E105",
    "env_var_name": "E105",
    "label": "E105",
    "quantity": "E106",
    "cron": "E107",
    "duration": "E108",
}
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "str": "a string",
    "dict": "a mapping",
    "model": "a mapping",
    "model_attributes": "a mapping",
    "list": "a list",
    "tuple": "a list",
    "decimal": "a number",
    "date": "a date (YYYY-MM-DD)",
    "ip_v4_network": "an IPv4 network such as 10.0.0.0/16",
}


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any] | None:
    if get_origin(tp) in (Union, types.UnionType):
        return [a for a in get_args(tp) if a is not type(None)]
    return None


def _tag_of(member: Any) -> str | None:
    if get_origin(member) is typing.Annotated:
        for meta in get_args(member)[1:]:
            if type(meta).__name__ == "Tag":
                return str(meta.tag)
    return None


@dataclass(frozen=True)
class _Resolved:
    path: Path_
    model: type[BaseModel] | None
    """The model owning the last key (for unknown-key hints)."""
    annotation: Any


def _resolve(model: type[BaseModel], loc: tuple[int | str, ...]) -> _Resolved:
    """Map pydantic's error location to a path in the YAML tree, dropping union tags."""
    tp: Any = model
    owner: type[BaseModel] | None = None
    path: list[str | int] = []
    i = 0
    while i < len(loc):
        seg = loc[i]
        tp = _unwrap(tp)
        members = _union_members(tp)
        if members is not None:
            tagged = {tag: m for m in members if (tag := _tag_of(m))}
            if tagged and seg in tagged:
                tp = tagged[str(seg)]
                i += 1
                continue
            models = [
                _unwrap(m)
                for m in members
                if isinstance(_unwrap(m), type) and issubclass(_unwrap(m), BaseModel)
            ]
            target = next((m for m in models if seg in m.model_fields), None)
            if target is not None:
                tp = target
                continue
            if len(members) > 1 and isinstance(seg, str):
                i += 1  # a member name pydantic put in the location (e.g. 'int')
                tp = members[0]
                continue
            tp = members[0]
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner = tp
            path.append(seg)
            field = tp.model_fields.get(str(seg))
            tp = field.annotation if field is not None else None
            i += 1
            continue
        origin = get_origin(tp)
        if origin is dict:
            path.append(seg)
            if i + 1 < len(loc) and loc[i + 1] == "[key]":
                return _Resolved(tuple(path), None, get_args(tp)[0])
            tp = get_args(tp)[1]
            owner = None
            i += 1
            continue
        if origin in (list, tuple):
            path.append(seg)
            tp = get_args(tp)[0] if get_args(tp) else Any
            owner = None
            i += 1
            continue
        path.append(seg)
        tp = Any
        owner = None
        i += 1
    return _Resolved(tuple(path), owner, tp)


def _literal_options(tp: Any) -> list[str]:
    tp = _unwrap(tp)
    if get_origin(tp) is Literal:
        return [str(a) for a in get_args(tp)]
    members = _union_members(tp)
    if members:
        out: list[str] = []
        for m in members:
            out.extend(_literal_options(m))
        return out
    return []


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 60 else text[:57] + "...'"


def _field_name(path: Path_) -> str:
    for seg in reversed(path):
        if isinstance(seg, str):
            return seg
    return "value"


def _description(model: type[BaseModel] | None, name: str) -> str | None:
    if model is None:
        return None
    field = model.model_fields.get(name)
    return field.description if field is not None and field.description else None


def to_diagnostic(
    err: ErrorDetails, model: type[BaseModel], prefix: Path_, sources: Locator, fallback: Span
) -> Diagnostic:
    """One pydantic error → one diagnostic at the YAML position it concerns."""
    kind = err["type"]
    resolved = _resolve(model, tuple(err["loc"]))
    path = prefix + resolved.path
    ctx = dict(err.get("ctx") or {})
    value = err.get("input")
    name = _field_name(resolved.path)
    hint = ctx.get("hint")
    if kind == "input_source":
        return error(
            "E103",
            f"'{name}' has the wrong shape: {err['msg']}",
            sources.locate(path) or fallback,
            hint,
        )
    if "field" in ctx and kind not in _CUSTOM_CODES:
        # A check across fields of one object, written for users: point at the field it names.
        field_path = (*path, ctx["field"])
        field_span = sources.locate(field_path, at_key=True) if sources.has(field_path) else None
        return error(
            "E100", err["msg"], field_span or sources.locate(path, at_key=True) or fallback, hint
        )
    if hint is not None and kind not in _CUSTOM_CODES:
        target = _unwrap(resolved.annotation)
        whole_object = isinstance(target, type) and issubclass(target, BaseModel)
        return error(
            "E100", err["msg"], sources.locate(path, at_key=whole_object) or fallback, hint
        )

    if kind == "extra_forbidden":
        span = sources.locate(path, at_key=True) or fallback
        fields = list(resolved.model.model_fields) if resolved.model else []
        return error("E101", f"unknown key '{name}'", span, did_you_mean(name, fields))
    if kind == "missing":
        parent = path[:-1]
        span = sources.locate(parent, at_key=True) or fallback
        if not parent:
            where = ""
        elif len(parent) == 2 and parent[0] == TEAMS_DIR:
            where = f" in team '{parent[1]}'"
        else:
            where = f" in '{_field_name(parent)}'"
        desc = _description(resolved.model, name)
        return error(
            "E102",
            f"missing required key '{name}'{where}",
            span,
            f"add '{name}:'" + (f" ({desc})" if desc else ""),
        )
    span = sources.locate(path) or fallback
    if kind in ("literal_error", "enum"):
        options = _literal_options(resolved.annotation)
        close = did_you_mean(str(value), options, fallback_list=False) if options else None
        listed = ", ".join(f"'{o}'" for o in options) if options else ctx.get("expected", "")
        prefix_hint = f"{close} " if close else ""
        return error(
            "E104",
            f"{_describe(value)} is not a valid {name}",
            span,
            f"{prefix_hint}expected one of: {listed}",
        )
    if kind in _CUSTOM_CODES:
        if err["loc"] and err["loc"][-1] == "[key]":
            span = sources.locate(path, at_key=True) or span
        return error(_CUSTOM_CODES[kind], err["msg"], span, hint)
    if kind.endswith(("_type", "_parsing")) and kind.rsplit("_", 1)[0] in _TYPE_WORDS:
        wanted = _TYPE_WORDS[kind.rsplit("_", 1)[0]]
        return error("E103", f"'{name}' must be {wanted}, got {_describe(value)}", span, hint)
    if kind in ("int_from_float",):
        return error("E103", f"'{name}' must be a whole number, got {_describe(value)}", span, hint)
    if kind == "union_tag_not_found" or kind == "union_tag_invalid":
        return error(
            "E103",
            f"'{name}' has the wrong shape: {err['msg']}",
            sources.locate(path) or fallback,
            hint,
        )
    if kind == "string_pattern_mismatch":
        desc = _description(resolved.model, name)
        return error(
            "E100",
            f"{_describe(value)} is not a valid {name}",
            span,
            desc or f"expected text matching {ctx.get('pattern')}",
        )
    if kind == "too_long":
        return error(
            "E003",
            f"'{name}' has too many entries: {err['msg'].lower()}",
            span,
            "split the work across teams or files; these limits keep builds fast",
        )
    if kind == "too_short":
        return error(
            "E100",
            f"'{name}' {err['msg'].replace('List', 'list').replace('Dictionary', 'mapping')}",
            span,
            hint or _description(resolved.model, name),
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        msg = err["msg"].replace("Input should be", "must be")
        return error("E100", f"'{name}' {msg}, got {_describe(value)}", span, hint)
    if kind == "value_error":
        msg = err["msg"].removeprefix("Value error, ")
        return error("E100", f"invalid {name} {_describe(value)}: {msg}", span, hint)
    if kind.startswith("ip_"):
        return error(
            "E103",
            f"'{name}' must be an IPv4 network such as 10.0.0.0/16, got {_describe(value)}",
            span,
            hint,
        )
    return error("E100", f"invalid {name}: {err['msg']}", span, hint)


def validate_model(
    model: type[BaseModel], data: Any, prefix: Path_, sources: Locator, root: Span
) -> tuple[Any, list[Diagnostic]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        fallback = sources.locate(prefix) or root  # positions are computed only now
        diags = [
            _misnamed(e, model, data, to_diagnostic(e, model, prefix, sources, fallback))
            for e in exc.errors(include_url=False)
        ]
        return None, unique(diags)


def _misnamed(err: ErrorDetails, model: type[BaseModel], data: Any, diag: Diagnostic) -> Diagnostic:
    """A required key missing from a named entry (a node pool, bucket, endpoint...) whose name
    is close to another entry's: most often an overlay that changes an existing entry under a
    misspelt name, which creates a new, incomplete one. Say so."""
    if err["type"] != "missing":
        return diag
    path = _resolve(model, tuple(err["loc"])).path
    if len(path) < 3 or not isinstance(path[-2], str):
        return diag
    container: Any = data
    for seg in path[:-2]:
        container = container.get(seg) if isinstance(container, dict) else None
    if not isinstance(container, dict):
        return diag
    name = path[-2]
    close = did_you_mean(name, [k for k in container if k != name], fallback_list=False)
    if close is None:
        return diag
    hint = f"{close} To declare a new '{name}', {diag.hint}" if diag.hint else close
    return error(diag.code, diag.message, diag.span, hint, *diag.notes)


def validate_composed(composed: Composed) -> tuple[ParsedSpec, list[Diagnostic]]:
    sources = composed.sources
    root_span = sources.locate(()) or Span("<config>")
    root, diags = validate_model(RootSpec, composed.root, (), sources, root_span)
    teams: dict[str, TeamSpec] = {}
    invalid: set[str] = set()
    teams.update(composed.prevalidated)
    for name, tree in composed.teams.items():
        if name in composed.prevalidated:
            continue
        prefix = (TEAMS_DIR, name)
        team, team_diags = validate_model(TeamSpec, tree, prefix, sources, root_span)
        diags.extend(team_diags)
        if team is None:
            invalid.add(name)
        else:
            teams[name] = team
    invalid.update(set(composed.team_files) - set(composed.teams) - set(composed.prevalidated))
    return ParsedSpec(composed.environment, root, teams, frozenset(invalid), composed), diags
