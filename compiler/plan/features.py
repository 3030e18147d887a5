"""Feature view changes between the baseline and this plan, classed for review.

A view is added, removed, or changed (its features, their types, its TTL, its source, whether
it is online). A change is *breaking* when it removes or retypes a feature, or removes a
view, that a feature service read by an endpoint uses: the model that endpoint serves was
trained on the old features, so the change is destructive until the model is retrained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.ir import PlatformIR
from compiler.ir_features import FeatureView


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


def _views(ir: PlatformIR | None) -> dict[str, FeatureView]:
    if ir is None:
        return {}
    return {v.feast_name: v for v in ir.feature_views()}


def _served(ir: PlatformIR | None) -> dict[tuple[str, str], list[str]]:
    """(view, feature) → endpoints of the baseline that read it online."""
    used: dict[tuple[str, str], list[str]] = {}
    for endpoint in ir.endpoints() if ir is not None else ():
        service = endpoint.feature_service
        for feature in service.features if service is not None else ():
            used.setdefault((feature.view, feature.name), []).append(
                f"{endpoint.team}/{endpoint.name}"
            )
    return used


def feature_changes(base: PlatformIR | None, head: PlatformIR) -> list[FeatureViewChange]:
    before, after = _views(base), _views(head)
    served = _served(base)
    changes: list[FeatureViewChange] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        view = new or old
        assert view is not None
        if old is None:
            changes.append(FeatureViewChange(view.team, view.name, "added"))
            continue
        hurt: set[str] = set()
        if new is None:
            for (v, _feature), endpoints in served.items():
                if v == name:
                    hurt.update(endpoints)
            changes.append(
                FeatureViewChange(
                    view.team, view.name, "removed", (), bool(hurt), tuple(sorted(hurt))
                )
            )
            continue
        details: list[str] = []
        old_types = {f.name: f.type for f in old.features}
        new_types = {f.name: f.type for f in new.features}
        for feature in old_types:
            if feature not in new_types:
                details.append(f"feature `{feature}` removed")
                hurt.update(served.get((name, feature), []))
            elif old_types[feature] != new_types[feature]:
                details.append(f"feature `{feature}`: {old_types[feature]} → {new_types[feature]}")
                hurt.update(served.get((name, feature), []))
        details += [
            f"feature `{f}` added ({t})" for f, t in new_types.items() if f not in old_types
        ]
        if old.ttl_seconds != new.ttl_seconds:
            details.append(f"ttl {old.ttl_seconds}s → {new.ttl_seconds}s")
        if old.source != new.source:
            details.append(f"source {old.source} → {new.source}")
        if old.online != new.online:
            details.append(f"online {old.online} → {new.online}")
            if not new.online:
                hurt.update(e for (v, _f), es in served.items() if v == name for e in es)
        if details:
            changes.append(
                FeatureViewChange(
                    view.team, view.name, "changed", tuple(details), bool(hurt), tuple(sorted(hurt))
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
