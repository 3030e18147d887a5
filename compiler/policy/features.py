"""S7xx: the feature store. Online tables are encrypted with the platform's key, recover to
a point in time and cannot be deleted by accident; a team's feature store access reaches
only the tables of the views it owns (write) or reads through its services (read)."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.ir_features import FeatureView
from compiler.policy.findings import Rule, Violation
from compiler.policy.plan_view import PlanView, as_list, describe, policy_statements

TABLE = "aws:dynamodb/table:Table"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY_SUFFIX = "-workload-features"
WRITE_PREFIXES = ("dynamodb:Put", "dynamodb:BatchWrite", "dynamodb:Delete", "dynamodb:Update")

RULES = (
    Rule(
        "S701",
        "feature-table-encryption",
        "online feature table not encrypted with the platform's KMS key",
        "Every DynamoDB table of the online store uses server-side encryption with the "
        "platform's customer-managed key (a KMS key of the plan), like the buckets.",
    ),
    Rule(
        "S702",
        "feature-table-protection",
        "online feature table can be lost",
        "Online tables keep point-in-time recovery, deletion protection, and are registered "
        "with protect and retain_on_delete: endpoints read them.",
    ),
    Rule(
        "S703",
        "feature-access-scope",
        "team feature store access beyond its views",
        "A team's workload role reads only the tables of views its feature services use "
        "(its own, or shared with it) and writes only its own views' tables.",
    ),
)


def _view_path(view: FeatureView) -> tuple[str, ...]:
    return ("teams", view.team, "feature_views", view.name)


def check(view: PlanView) -> Iterator[Violation]:
    ir = view.ir
    if ir.feature_store is None:
        return
    views = {v.feast_name: v for v in ir.feature_views()}
    project = ir.feature_store.project
    for table in view.of_type(TABLE):
        fv = views.get(table.name)
        if fv is None:
            continue
        where = _view_path(fv)
        subject = f"feature view '{fv.team}/{fv.name}'"
        sse = table.inputs.get("serverSideEncryption") or {}
        if not sse.get("enabled") or not str(sse.get("kmsKeyArn", "")).startswith("arn:aws:kms:"):
            yield Violation(
                "S701",
                subject,
                "its online table is not encrypted with a customer-managed KMS key",
                where,
                describe(table),
            )
        missing = [
            what
            for what, ok in (
                (
                    "point-in-time recovery",
                    (table.inputs.get("pointInTimeRecovery") or {}).get("enabled"),
                ),
                ("deletion protection", table.inputs.get("deletionProtectionEnabled")),
                ("protect", table.protect),
                ("retain_on_delete", table.retain_on_delete),
            )
            if not ok
        ]
        if missing:
            yield Violation(
                "S702",
                subject,
                f"its online table lacks {', '.join(missing)}",
                where,
                describe(table),
            )
    arn_of = {f"table/{project}.{name}": name for name in views}
    for policy in view.of_type(ROLE_POLICY):
        if not policy.name.endswith(POLICY_SUFFIX):
            continue
        team_name = policy.name.removesuffix(POLICY_SUFFIX)
        team = ir.teams.get(team_name)
        if team is None:
            continue
        own = {v.feast_name for v in team.feature_views.values()}
        on_demand = {v.feast_name: v.sources for v in team.on_demand_views.values()}
        read = {f.view for s in team.feature_services.values() for f in s.features}
        # an on-demand view has no table: its sources' tables are read
        readable = own | {t for v in read for t in on_demand.get(v, (v,))}
        for statement in policy_statements(policy.inputs.get("policy")) or []:
            actions = [str(a) for a in as_list(statement.get("Action"))]
            if not any(a.startswith("dynamodb:") for a in actions):
                continue
            writes = any(a.startswith(WRITE_PREFIXES) or a == "dynamodb:*" for a in actions)
            allowed = own if writes else readable
            for resource in as_list(statement.get("Resource")):
                name = next(
                    (n for suffix, n in arn_of.items() if str(resource).endswith(suffix)), None
                )
                if name is None or name not in allowed:
                    yield Violation(
                        "S703",
                        f"team '{team_name}'",
                        f"its feature store policy {'writes' if writes else 'reads'} {resource}, "
                        f"which is not the table of a view it {'owns' if writes else 'owns or reads'} "
                        f"(statement '{statement.get('Sid', '?')}')",
                        ("teams", team_name),
                        describe(policy),
                    )
