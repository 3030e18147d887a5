"""report.md: the plan as a pull-request comment.

Destructive changes come first, then the blast radius of disruptive changes, a summary per
team and spec object, the field-level detail (folded in `<details>`), the monthly cost and
its delta, policy findings, the manifest check and a Mermaid diagram. GitHub rejects
comments over 65,536 characters: detail is added only while the report stays under
`MAX_CHARS`; what does not fit is counted and left to plan.json and changes.json.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from compiler.ir import PlatformIR
from compiler.plan.blast import blast_radius
from compiler.plan.cost import CostEstimate, estimate, signed_usd, usd
from compiler.plan.diagram import mermaid
from compiler.plan.diff import KIND_ORDER, MISSING, Change, PlanDiff
from compiler.plan.features import feature_changes, report_section
from compiler.plan.manifests import ValidationReport
from compiler.plan.model import Plan
from platform_iac.naming import SpecRef

MARKER = "<!-- mlplat:plan-report -->"
"""Hidden first line: CI finds the comment to update by it."""
CLUSTER = SpecRef("platform", "cluster")
MAX_CHARS = 60_000
MAX_VALUE = 120
MAX_TABLE_ROWS = 60
KIND_WORDS = {"create": "create", "update": "update", "replace": "replace", "delete": "delete"}


@dataclass(frozen=True)
class PolicyFinding:
    """An organisation policy (G) or security baseline (S) result, located in the YAML."""

    severity: str
    policy: str
    message: str
    resource: str = ""


@dataclass(frozen=True)
class Baseline:
    label: str
    """How the baseline was obtained, for the header ('`main` (1a2b3c4)', 'build/prod')."""
    plan: Plan | None
    ir: PlatformIR | None
    note: str = ""
    """Why there is no baseline, or a caveat about it."""


@dataclass
class _Budget:
    limit: int
    used: int = 0
    omitted: Counter[str] = field(default_factory=Counter)

    def fits(self, text: str, reserve: int = 0) -> bool:
        return self.used + len(text) + reserve <= self.limit

    def take(self, text: str) -> str:
        self.used += len(text)
        return text


def _code(value: Any) -> str:
    if value is MISSING:
        return "_(absent)_"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = text.replace("\n", " ").replace("|", "\\|").replace("`", "'")
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    return f"`{text}`"


def _group_key(spec: SpecRef) -> tuple[str, str]:
    return (spec.team or "platform", spec.label())


def _resource(change: Change) -> str:
    return f"`{change.short_type}` `{change.name}`"


def _header(
    head: Plan,
    ir: PlatformIR,
    diff: PlanDiff,
    baseline: Baseline,
    validation: ValidationReport,
    breaking: int = 0,
) -> list[str]:
    counts = diff.counts()
    target = f"`{ir.platform.cluster_name}`, {ir.platform.region}, target `{ir.target}`"
    lines = [MARKER, f"## mlplat plan: `{head.environment}` ({target})", ""]
    facts = [f"**{len(head.managed())} resources**"]
    if diff.changes:
        facts += [f"{counts.get(k, 0)} to {k}" for k in ("create", "update", "replace", "delete")]
        facts.append(f"{diff.unchanged} unchanged")
    else:
        facts.append("no changes")
    destructive = len(diff.destructive) + breaking
    facts.append(f"**{destructive} destructive**" if destructive else "nothing destructive")
    lines.append(f"Baseline: {baseline.label} · " + " · ".join(facts))
    if baseline.note:
        lines += ["", f"> [!NOTE]\n> {baseline.note}"]
    if ir.target == "local":
        lines += [
            "",
            "> [!NOTE]\n> This environment deploys locally; the plan shows the cloud program "
            "that dev and prod run, from the same specs.",
        ]
    if destructive:
        lines += [
            "",
            f"> [!CAUTION]\n> **{destructive} destructive change{'s' * (destructive != 1)}**: "
            "deleting or replacing a stateful or protected resource. `mlplat deploy` refuses "
            "to apply destructive changes without `--allow-destroy`.",
        ]
    if validation.problems:
        lines += [
            "",
            f"> [!WARNING]\n> {len(validation.problems)} Kubernetes manifest problem(s): see "
            "Kubernetes manifests below.",
        ]
    return [*lines, ""]


def _destructive(diff: PlanDiff) -> list[str]:
    changes = diff.destructive
    if not changes:
        return []
    lines = [
        "### Destructive changes",
        "",
        "| change | resource | spec object | why |",
        "|---|---|---|---|",
    ]
    for change in changes[:MAX_TABLE_ROWS]:
        lines.append(
            f"| **{change.kind}** | {_resource(change)} | {change.spec.label()} | {change.reason} |"
        )
    if len(changes) > MAX_TABLE_ROWS:
        lines.append(f"| … | {len(changes) - MAX_TABLE_ROWS} more in changes.json | | |")
    return [*lines, ""]


def _blast(diff: PlanDiff, head_ir: PlatformIR, base_ir: PlatformIR | None) -> list[str]:
    seen: dict[SpecRef, set[str]] = defaultdict(set)
    for change in diff.changes:
        disruptive = change.kind in ("replace", "delete") or change.rolling
        if disruptive and (
            change.spec.kind in ("node_pool", "bucket", "team") or change.spec == CLUSTER
        ):
            seen[change.spec].add("rolling update" if change.rolling else change.kind)
    rows = []
    for spec in sorted(seen, key=lambda s: (s.kind, s.team or "", s.name)):
        affected = blast_radius(spec, head_ir, base_ir)
        how = ", ".join(sorted(seen[spec]))
        rows.append(f"- **{spec.label()}** ({how}): {affected.describe()}")
    if not rows:
        return []
    shown = rows[:MAX_TABLE_ROWS]
    if len(rows) > MAX_TABLE_ROWS:
        shown.append(f"- … and {len(rows) - MAX_TABLE_ROWS} more")
    return [
        "### Blast radius",
        "",
        "What runs on or reads from what is replaced or deleted:",
        "",
        *shown,
        "",
    ]


def _summary(diff: PlanDiff) -> list[str]:
    if not diff.changes:
        return []
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter[str])
    notes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for change in diff.changes:
        key = _group_key(change.spec)
        groups[key][change.kind] += 1
        if change.destructive:
            notes[key].add("destructive")
        if change.rolling:
            notes[key].add("rolling")
        if change.metadata_only:
            notes[key].add("metadata only")
    lines = [
        "### Summary by team and spec object",
        "",
        "| team | spec object | create | update | replace | delete | notes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    ordered = sorted(groups, key=lambda k: (k[0] != "platform", k))
    for key in ordered[:MAX_TABLE_ROWS]:
        c = groups[key]
        cells = [str(c[k]) if c[k] else "" for k in ("create", "update", "replace", "delete")]
        lines.append(
            f"| {key[0]} | {key[1]} | {' | '.join(cells)} | {', '.join(sorted(notes[key]))} |"
        )
    if len(ordered) > MAX_TABLE_ROWS:
        lines.append(f"| … | {len(ordered) - MAX_TABLE_ROWS} more groups | | | | | |")
    return [*lines, ""]


def _change_detail(change: Change) -> str:
    head = f"- **{KIND_WORDS[change.kind]}** {_resource(change)}"
    forced = [f.dotted() for f in change.fields if f.forces_replacement]
    if forced:
        head += f", forced by {', '.join(f'`{p}`' for p in forced)}"
    if change.metadata_only:
        head += " _(metadata only)_"
    if change.reason:
        head += f": {change.reason}"
    if not change.fields:
        return head + "\n"
    rows = [head, "", "  | field | before | after |", "  |---|---|---|"]
    for f in change.fields[:40]:
        mark = " ⚠" if f.forces_replacement else ""
        rows.append(f"  | `{f.dotted()}`{mark} | {_code(f.before)} | {_code(f.after)} |")
    if len(change.fields) > 40:
        rows.append(f"  | … {len(change.fields) - 40} more fields | | |")
    return "\n".join(rows) + "\n\n"


def _details(diff: PlanDiff, budget: _Budget, reserve: int) -> list[str]:
    if not diff.changes:
        return []
    groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in diff.changes:
        groups[_group_key(change.spec)].append(change)
    out = [budget.take("### Changes\n\n")]
    ordered = sorted(
        groups,
        key=lambda k: (not any(c.destructive for c in groups[k]), k[0] != "platform", k),
    )
    for index, key in enumerate(ordered):
        changes = sorted(groups[key], key=lambda c: (KIND_ORDER[c.kind], c.type, c.name))
        counts = Counter(str(c.kind) for c in changes)
        summary = ", ".join(f"{counts[k]} {k}" for k in KIND_ORDER if counts[k])
        title = (
            key[1]
            if key[0] == "platform" or key[1] == f"team {key[0]}"
            else f"team {key[0]} · {key[1]}"
        )
        block = (
            f"<details><summary><b>{title}</b>: {summary}</summary>\n\n"
            + "".join(_change_detail(c) for c in changes)
            + "</details>\n\n"
        )
        if not budget.fits(block, reserve):
            rest = ordered[index:]
            budget.omitted["groups"] += len(rest)
            budget.omitted["changes"] += sum(len(groups[k]) for k in rest)
            out.append(
                budget.take(
                    f"_{budget.omitted['changes']} more changes in {len(rest)} spec objects "
                    "are not shown here (the comment would be too long): see `changes.json` "
                    "and `plan.json` in the plan artifact._\n\n"
                )
            )
            break
        out.append(budget.take(block))
    return out


def _cost(head: CostEstimate, base: CostEstimate | None) -> list[str]:
    lines = ["### Monthly cost estimate", ""]
    base_items = base.by_item() if base else {}
    delta = base is not None
    header = "| | item | min | max |" + (" Δ min | Δ max |" if delta else "") + " notes |"
    lines += [header, "|---|---|---:|---:|" + ("---:|---:|" if delta else "") + "---|"]
    items = head.by_item()
    keys = list(items) + [k for k in base_items if k not in items]
    shown = 0
    for key in keys:
        line = items.get(key)
        old = base_items.get(key)
        if shown >= MAX_TABLE_ROWS and (line is None or old is None or line == old):
            continue
        shown += 1
        lo = line.min_usd if line else Decimal(0)
        hi = line.max_usd if line else Decimal(0)
        group = key[0] if line is None or line.counted else f"_{key[0]}_"
        row = f"| {group} | {key[1]}{'' if line else ' _(removed)_'} | {usd(lo)} | {usd(hi)} |"
        if delta:
            row += (
                f" {signed_usd(lo - (old.min_usd if old else 0))} |"
                f" {signed_usd(hi - (old.max_usd if old else 0))} |"
            )
        row += f" {line.note if line else ''} |"
        lines.append(row)
    total = f"| **total** | | **{usd(head.total_min)}** | **{usd(head.total_max)}** |"
    if base is not None:
        total += (
            f" **{signed_usd(head.total_min - base.total_min)}** |"
            f" **{signed_usd(head.total_max - base.total_max)}** |"
        )
    lines += [total + " |", ""]
    lines.append(
        "<sub>us-east-1 on-demand list prices (schemas/catalog.py), 730 hours a month; node "
        "pools at min and max size. _Endpoints_ are the share of their node pool that their "
        "replicas request: included in the node pools, not added to the total.</sub>"
    )
    return [*lines, ""]


def _findings(findings: Sequence[PolicyFinding]) -> list[str]:
    lines = ["### Policy findings", ""]
    if not findings:
        return [*lines, "No policy findings.", ""]
    errors = sum(f.severity == "error" for f in findings)
    lines += [
        f"{errors} error(s), {len(findings) - errors} warning(s); `mlplat deploy` refuses to "
        "deploy while errors remain (`mlplat check` lists them with hints).",
        "",
        "| severity | policy | where | finding |",
        "|---|---|---|---|",
    ]
    ordered = sorted(findings, key=lambda f: (f.severity != "error", f.policy, f.resource))
    for f in ordered[:MAX_TABLE_ROWS]:
        message = f.message.replace("|", "\\|")
        lines.append(f"| {f.severity} | {f.policy} | {f.resource} | {message} |")
    if len(findings) > MAX_TABLE_ROWS:
        lines.append(f"| … | {len(findings) - MAX_TABLE_ROWS} more | | |")
    return [*lines, ""]


def _manifests(validation: ValidationReport) -> list[str]:
    lines = ["### Kubernetes manifests", "", validation.summary()]
    for problem in validation.problems[:MAX_TABLE_ROWS]:
        lines.append(f"- `{problem.path}`: `{problem.where or '(root)'}`: {problem.message}")
    return [*lines, ""]


def render_report(
    head: Plan,
    head_ir: PlatformIR,
    diff: PlanDiff,
    baseline: Baseline,
    validation: ValidationReport,
    findings: Sequence[PolicyFinding] = (),
    limit: int = MAX_CHARS,
) -> str:
    """The whole report; always under `limit` characters."""
    budget = _Budget(limit)
    features = feature_changes(baseline.ir, head_ir)
    breaking = sum(c.breaking for c in features)
    top = "\n".join(
        [
            *_header(head, head_ir, diff, baseline, validation, breaking),
            *_destructive(diff),
            *report_section(features),
            *_blast(diff, head_ir, baseline.ir),
            *_summary(diff),
        ]
    )
    tail = "\n".join(
        [
            *_cost(estimate(head_ir), estimate(baseline.ir) if baseline.ir else None),
            *_findings(findings),
            *_manifests(validation),
        ]
    )
    diagram = (
        "### Platform\n\n<details><summary>Teams, pipelines, endpoints, node pools and "
        "buckets</summary>\n\n```mermaid\n" + mermaid(head_ir) + "```\n\n</details>\n"
    )
    footer = "\n<sub>Generated by `mlplat plan`.</sub>\n"
    top = _fit(top, limit // 3)
    budget.take(top + "\n")
    budget.take(footer)
    tail = _fit(tail, max(limit - budget.used, 0) // 2)
    budget.take(tail)
    diagram_fits = budget.fits(diagram)
    reserve = len(diagram) if diagram_fits else 0
    details = "".join(_details(diff, budget, reserve))
    if diagram_fits and budget.fits(diagram):
        budget.take(diagram)
    else:
        diagram = "### Platform\n\n_The diagram does not fit in this comment._\n"
    text = top + "\n" + details + tail + "\n" + diagram + footer
    return text if len(text) <= limit else _fit(text, limit)


def _fit(text: str, limit: int) -> str:
    """Cut at a line boundary with a note: a last resort for pathological inputs."""
    if len(text) <= limit:
        return text
    note = "\n\n_(truncated: see plan.json and changes.json in the plan artifact)_\n"
    cut = text[: max(limit - len(note), 0)]
    return cut[: cut.rfind("\n") + 1] + note
