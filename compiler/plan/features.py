"""Feature view changes between the baseline and this plan, classed for review.

A view is added, removed, or changed (its features, their types, its TTL, its source, whether
it is online). A change is *breaking* when it removes or retypes a feature, or removes a
view, that a feature service read by an endpoint uses: the model that endpoint serves was
trained on the old features, so the change is destructive until the model is retrained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from compiler.ir import PlatformIR
from compiler.ir_features import on_demand_views, served_features


@dataclass(frozen=True)
class FeatureViewChange:
    team: str
    view: str
    kind: str
    """'added', 'removed' or 'changed'."""
    details: tuple[str, ...] = ()
    breaking: bool = False
    endpoints: tuple[str, ...] = field(default=())
    """`team/endpoint` of the endpoints a breaking change affects."""

    @property
    def label(self) -> str:
        return f"{self.team}/{self.view}"

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "view": self.view,
            "kind": self.kind,
            "details": list(self.details),
            "destructive": self.breaking,
            "endpoints": list(self.endpoints),
        }


def snapshot(ir: PlatformIR | None) -> dict[str, Any]:
    """The views and what serving reads of them (`served_features`); empty without an IR."""
    if ir is None:
        return {"views": {}, "served": {}}
    return served_features(ir.feature_views(), ir.endpoints(), on_demand_views(ir.teams))


def feature_changes(
    base: PlatformIR | Mapping[str, Any] | None, head: PlatformIR | Mapping[str, Any]
) -> list[FeatureViewChange]:
    """The view changes from `base` to `head`, each an IR or a `served_features` snapshot
    (the cloud deploy's base is the deployed stack's)."""
    old_snap = base if isinstance(base, Mapping) else snapshot(base)
    new_snap = head if isinstance(head, Mapping) else snapshot(head)
    before, after = dict(old_snap.get("views") or {}), dict(new_snap.get("views") or {})
    served: dict[str, dict[str, list[str]]] = dict(old_snap.get("served") or {})
    changes: list[FeatureViewChange] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        view = new or old
        assert view is not None
        team, label = str(view["team"]), str(view["name"])
        readers = served.get(name, {})
        if old is None:
            changes.append(FeatureViewChange(team, label, "added"))
            continue
        hurt: set[str] = set()
        if new is None:
            hurt = {e for endpoints in readers.values() for e in endpoints}
            changes.append(
                FeatureViewChange(team, label, "removed", (), bool(hurt), tuple(sorted(hurt)))
            )
            continue
        details: list[str] = []
        old_types: dict[str, str] = dict(old["features"])
        new_types: dict[str, str] = dict(new["features"])
        for feature in old_types:
            if feature not in new_types:
                details.append(f"feature `{feature}` removed")
                hurt.update(readers.get(feature, []))
            elif old_types[feature] != new_types[feature]:
                details.append(f"feature `{feature}`: {old_types[feature]} → {new_types[feature]}")
                hurt.update(readers.get(feature, []))
            elif (old.get("expressions") or {}).get(feature) != (new.get("expressions") or {}).get(
                feature
            ):  # an on-demand feature computed another way: models see other values
                details.append(f"feature `{feature}` computed by another expression")
                hurt.update(readers.get(feature, []))
        details += [
            f"feature `{f}` added ({t})" for f, t in new_types.items() if f not in old_types
        ]
        if old["ttl_seconds"] != new["ttl_seconds"]:
            details.append(f"ttl {old['ttl_seconds']}s → {new['ttl_seconds']}s")
        if old["source"] != new["source"]:
            details.append(f"source {old['source']} → {new['source']}")
        if old["online"] != new["online"]:
            details.append(f"online {old['online']} → {new['online']}")
            if not new["online"]:
                hurt.update(e for endpoints in readers.values() for e in endpoints)
        if details:
            changes.append(
                FeatureViewChange(
                    team, label, "changed", tuple(details), bool(hurt), tuple(sorted(hurt))
                )
            )
    return changes


def report_section(changes: list[FeatureViewChange]) -> list[str]:
    """The report's table of feature view changes (nothing when there are none)."""
    if not changes:
        return []
    lines = [
        "### Feature views",
        "",
        "| change | feature view | what | class |",
        "|---|---|---|---|",
    ]
    for change in sorted(changes, key=lambda c: (not c.breaking, c.label)):
        what = "; ".join(change.details) or "—"
        if change.breaking:
            klass = "**destructive**: breaks " + ", ".join(f"`{e}`" for e in change.endpoints)
            klass += " (retrain and redeploy their models)"
        else:
            klass = "safe"
        lines.append(f"| {change.kind} | `{change.label}` | {what} | {klass} |")
    return [*lines, ""]
