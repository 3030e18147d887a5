"""Classify every difference between a baseline plan and this one.

A resource is created, updated (with the fields that changed), replaced (a changed field
forces a new resource) or deleted. On top of that a change may be metadata-only (tags,
labels, annotations or descriptions, none that change behaviour), destructive (delete or
replace of a stateful or protected resource) or rolling (an in-place update that replaces
running nodes). Fields the program tells Pulumi to ignore on existing resources are ignored.
JSON documents in string fields (IAM and bucket policies) are compared as documents.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from compiler.cache import BuildCache
from compiler.canonical import canonical_json_with
from compiler.plan.model import Plan, PlannedResource
from compiler.plan.rules import (
    STATEFUL,
    FieldPath,
    forces_replacement,
    is_metadata,
    rolling_reason,
)
from platform_iac.naming import SpecRef

ChangeKind = Literal["create", "update", "replace", "delete"]
KIND_ORDER: dict[str, int] = {"delete": 0, "replace": 1, "update": 2, "create": 3}


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class FieldChange:
    path: FieldPath
    before: Any
    after: Any
    forces_replacement: bool

    def dotted(self) -> str:
        return ".".join(self.path).replace(".[", "[")


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    key: str
    type: str
    name: str
    spec: SpecRef
    fields: tuple[FieldChange, ...] = ()
    metadata_only: bool = False
    destructive: bool = False
    protected: bool = False
    reason: str = ""
    """Why the change is destructive or rolling, in a reviewer's words."""
    rolling: bool = False

    @property
    def short_type(self) -> str:
        """`aws:s3/bucket:Bucket` → `aws:s3:Bucket` for tables."""
        package, module, kind = [*self.type.split(":", 2), "", ""][:3]
        return f"{package}:{module.split('/', 1)[0]}:{kind}" if kind else self.type

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "type": self.type,
            "name": self.name,
            "spec": {"kind": self.spec.kind, "name": self.spec.name, "team": self.spec.team},
            "metadata_only": self.metadata_only,
            "destructive": self.destructive,
            "protected": self.protected,
            "rolling": self.rolling,
            "reason": self.reason,
            "fields": [
                {
                    "path": f.dotted(),
                    "before": None if f.before is MISSING else f.before,
                    "after": None if f.after is MISSING else f.after,
                    "forces_replacement": f.forces_replacement,
                }
                for f in self.fields
            ],
        }


@dataclass
class PlanDiff:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> Counter[str]:
        return Counter(c.kind for c in self.changes)

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.destructive]

    def to_json(
        self, memo: BuildCache | None = None, feature_views: Sequence[dict[str, Any]] = ()
    ) -> str:
        """changes.json. `memo`: a resident process's cache, which keeps the JSON objects of
        changes it made before (changes are immutable). `feature_views`: the feature view
        changes (`plan.features`); a destructive one breaks a serving model and counts in
        `destructive` beside the resources."""
        breaking = sum(1 for change in feature_views if change["destructive"])
        data: dict[str, Any] = {
            "counts": {k: self.counts().get(k, 0) for k in KIND_ORDER},
            "destructive": len(self.destructive) + breaking,
            "destructive_feature_views": breaking,
            "feature_views": list(feature_views),
            "unchanged": self.unchanged,
        }
        return canonical_json_with(data, "changes", self.changes, Change.to_json, memo)


def _as_document(value: Any) -> Any:
    """A string holding a JSON object or array, parsed; anything else unchanged."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


IDENTITY_KEYS = ("Sid", "id", "name", "key", "type")
"""Lists of objects that carry one of these (IAM statements, lifecycle rules, containers,
taints) are compared element by element, matched on it."""


def _keyed(value: Any) -> dict[str, Any] | None:
    """A list of objects as `{"[<id>]": object}` when every object has a distinct id."""
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        return None
    for key in IDENTITY_KEYS:
        ids = [v.get(key) for v in value]
        if all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids):
            return {f"[{i}]": v for i, v in zip(ids, value, strict=True)}
    return None


def field_changes(
    before: Any, after: Any, path: FieldPath = ()
) -> Iterator[tuple[FieldPath, Any, Any]]:
    """Differences, as deep as both sides have the same shape: objects are walked, lists of
    identified objects are matched by id, anything else is compared whole."""
    before, after = _as_document(before), _as_document(after)
    keyed_before = _keyed(before) if isinstance(before, list) else None
    keyed_after = _keyed(after) if isinstance(after, list) else None
    if (
        (keyed_before is not None or before is MISSING)
        and (keyed_after is not None or after is MISSING)
        and (keyed_before is not None or keyed_after is not None)
    ):
        before = keyed_before if keyed_before is not None else MISSING
        after = keyed_after if keyed_after is not None else MISSING
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            yield from field_changes(
                before.get(key, MISSING), after.get(key, MISSING), (*path, str(key))
            )
        return
    if before != after:
        yield path, before, after


def _ignored(path: FieldPath, ignore: tuple[str, ...]) -> bool:
    return any(path[: len(rule.split("."))] == tuple(rule.split(".")) for rule in ignore)


def compare(base: PlannedResource, head: PlannedResource) -> Change | None:
    """The change from `base` to `head` (same key), or None if nothing changes."""
    found = [
        FieldChange(path, old, new, forces_replacement(head.type, path))
        for path, old, new in field_changes(base.inputs, head.inputs)
        if not _ignored(path, head.ignore_changes)
    ]
    if base.protect != head.protect:
        found.append(FieldChange(("(protect)",), base.protect, head.protect, False))
    if base.retain_on_delete != head.retain_on_delete:
        found.append(
            FieldChange(
                ("(retain_on_delete)",), base.retain_on_delete, head.retain_on_delete, False
            )
        )
    if not found:
        return None
    replace = any(f.forces_replacement for f in found)
    destructive, reason = _destructive(base, "replace") if replace else (False, "")
    rolling = None if replace else rolling_reason(head.type, [f.path for f in found])
    return Change(
        kind="replace" if replace else "update",
        key=head.key,
        type=head.type,
        name=head.name,
        spec=head.spec,
        fields=tuple(found),
        metadata_only=not replace and all(is_metadata(f.path) for f in found),
        destructive=destructive,
        protected=base.protect,
        reason=reason or rolling or "",
        rolling=rolling is not None,
    )


def _destructive(base: PlannedResource, kind: ChangeKind) -> tuple[bool, str]:
    what = STATEFUL.get(base.type)
    if base.protect:
        detail = (
            "; retain_on_delete keeps it (and its data) in the account"
            if base.retain_on_delete
            else ""
        )
        action = "delete" if kind == "delete" else "replace"
        note = f"protected: Pulumi refuses to {action} it until protection is lifted{detail}"
        return True, f"{what}; {note}" if what else note
    if what:
        return True, what
    return False, ""


def diff_plans(base: Plan, head: Plan, memo: BuildCache | None = None) -> PlanDiff:
    """Every change from `base` to `head`; components (pure grouping) are left out.

    `memo`: a resident process's cache, which keeps the change of each pair of resources
    that are the same objects as in its last build (comparing inputs is most of the cost)."""
    recall = (memo or BuildCache(None)).recall
    before = {r.key: r for r in base.managed()}
    after = {r.key: r for r in head.managed()}
    result = PlanDiff()
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None and new is not None:
            result.changes.append(recall("create", new, None, partial(_created, new)))
        elif new is None and old is not None:
            destructive, reason = _destructive(old, "delete")
            result.changes.append(
                Change(
                    "delete",
                    key,
                    old.type,
                    old.name,
                    old.spec,
                    destructive=destructive,
                    protected=old.protect,
                    reason=reason,
                )
            )
        elif old is not None and new is not None:
            change = recall("compare", (old, new), None, partial(compare, old, new))
            if change is None:
                result.unchanged += 1
            else:
                result.changes.append(change)
    result.changes.sort(
        key=lambda c: (
            not c.destructive,
            KIND_ORDER[c.kind],
            c.spec.kind,
            c.spec.team or "",
            c.spec.name,
            c.type,
            c.name,
        )
    )
    return result


def _created(new: PlannedResource) -> Change:
    return Change("create", new.key, new.type, new.name, new.spec)


def empty_baseline(head: Plan) -> Plan:
    """A baseline with nothing in it: every resource of `head` is created."""
    return Plan(head.environment, head.target, head.project, head.stack, head.kubernetes_version)
