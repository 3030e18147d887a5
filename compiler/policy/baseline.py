"""The security baseline: checks on the recorded plan (and the compiled pipelines), not on
the YAML, so they hold whatever the program does.

Each check is a rule with a stable id (S1xx storage, S2xx identity, S3xx cluster, S4xx node
groups, S5xx namespaces and RBAC, S6xx pod templates, S7xx feature store), a severity and a help text. A
violation names the spec object the resource was built for and is located at that object
in the YAML (a bucket at `buckets.<name>`, a team at `teams.<name>`, a pipeline step at
`teams.<team>.pipelines.<pipeline>.steps.<step>`), with the resource in a note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from compiler.cache import BuildCache
from compiler.diagnostics import CODES, Diagnostic, Span, sort_key
from compiler.ir import PlatformIR
from compiler.plan.model import Plan
from compiler.policy import (
    cluster,
    features,
    identity,
    monitoring,
    pods,
    storage,
    tenancy,
    training,
)
from compiler.policy.findings import Rule, Violation
from compiler.policy.plan_view import PlanView
from compiler.yaml_source import Path_

Locate = Callable[[Path_, bool], Span]
"""(config path, at the key rather than the value) -> where it was written."""

RULES: dict[str, Rule] = {
    rule.code: rule
    for module in (storage, identity, cluster, tenancy, pods, features, monitoring)
    for rule in module.RULES
}


def violations(
    plan: Plan,
    ir: PlatformIR,
    pipelines: Mapping[str, str | bytes] | None = None,
    cache: BuildCache | None = None,
    jobs: int = 1,
    facts: Mapping[str, dict[str, Any]] | None = None,
) -> Iterator[Violation]:
    """Every violation of the baseline in `plan` (and in the compiled `pipelines`, keyed by
    their path below build/<env>/, when given; `facts`: their pod facts, if known)."""
    view = PlanView(plan, ir, cache)
    yield from storage.check(view)
    yield from identity.check(view)
    yield from cluster.check(view)
    yield from tenancy.check(view)
    yield from pods.check(view, pipelines, cache, jobs, facts)
    yield from features.check(view)
    yield from training.check(view, pipelines)
    yield from monitoring.check(view)


def to_diagnostic(violation: Violation, locate: Locate) -> Diagnostic:
    rule = RULES[violation.code]
    assert rule.code in CODES, rule.code
    return Diagnostic(
        rule.code,
        f"[{rule.name}] {violation.subject}: {violation.problem}",
        locate(violation.path, violation.at_key),
        violation.hint or rule.help,
        rule.severity,
        (f"resource: {violation.resource}",) if violation.resource else (),
    )


def check_baseline(
    plan: Plan,
    ir: PlatformIR,
    locate: Locate,
    pipelines: Mapping[str, str | bytes] | None = None,
    cache: BuildCache | None = None,
    jobs: int = 1,
    facts: Mapping[str, dict[str, Any]] | None = None,
) -> list[Diagnostic]:
    """The baseline's findings as diagnostics, in a stable order, without duplicates."""
    found = {to_diagnostic(v, locate) for v in violations(plan, ir, pipelines, cache, jobs, facts)}
    return sorted(found, key=sort_key)
