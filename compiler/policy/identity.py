"""S2xx: IAM grants exactly what is used, workload identity is bound to one service account,
and no team principal is a cluster administrator.

What the program legitimately needs, and why each exception is narrow:
- `Resource: "*"` only for read-only discovery calls of the compute inventory (EC2 and Auto
  Scaling `Describe*`, EKS `Describe*`, `ec2:GetInstanceTypesFromInstanceRequirements`):
  most support no resource-level permissions and none returns data. A mutating action on
  `*` must be scoped to resources by an `aws:ResourceTag/...` condition (the cluster
  autoscaler resizes only node groups tagged as this cluster's).
- AWS-managed policies only where EKS requires them, on the role of the service that needs
  them: AmazonEKSClusterPolicy on the control plane's role (trusted by eks.amazonaws.com);
  AmazonEKSWorkerNodePolicy, AmazonEKS_CNI_Policy and AmazonEC2ContainerRegistryReadOnly on
  the nodes' role (trusted by ec2.amazonaws.com). AWS maintains them for EKS; their
  wildcards cannot be narrowed without breaking node registration, pod networking or
  image pulls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compiler.plan.model import PlannedResource
from compiler.policy.findings import Rule, Violation
from compiler.policy.plan_view import (
    ROLE,
    PlanView,
    as_list,
    describe,
    dig,
    policy_statements,
    spec_path,
    subject,
    team_path,
)

POLICY_DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ATTACHMENTS = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "role",
    "aws:iam/policyAttachment:PolicyAttachment": "roles",
}
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
AWS_MANAGED = "arn:aws:iam::aws:policy/"
AWS_MANAGED_FOR_SERVICE = {
    "eks.amazonaws.com": frozenset({"AmazonEKSClusterPolicy"}),
    "ec2.amazonaws.com": frozenset(
        {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"}
    ),
}
UNSCOPED_READS = (
    "autoscaling:Describe",
    "ec2:Describe",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:Describe",
)
RESOURCE_TAG_CONDITION = "aws:ResourceTag/"
STS_AUDIENCE = "sts.amazonaws.com"
CLUSTER_ADMIN_ACCESS = ("AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy")
MASTERS = "system:masters"

RULES = (
    Rule(
        "S201",
        "iam-no-wildcard-actions",
        "IAM policy allows wildcard actions",
        "Allow statements list their actions one by one (no `*`, `s3:*`, `s3:Get*` and no "
        "NotAction), so a role can do only what it was reviewed to do.",
    ),
    Rule(
        "S202",
        "iam-no-wildcard-resources",
        "IAM policy allows actions on any resource",
        "Allow statements name their resources (object keys may end in `/*` under a fixed "
        'bucket and prefix). `Resource: "*"` is accepted only for read-only discovery '
        "calls without resource-level permissions, or under an aws:ResourceTag condition.",
    ),
    Rule(
        "S203",
        "iam-managed-policies",
        "AWS-managed policy attached beyond what EKS requires",
        "AWS-managed policies (broad by design) are attached only where EKS requires them: "
        "the cluster policy to the control plane's role, the worker node, CNI and registry "
        "read-only policies to the nodes' role.",
    ),
    Rule(
        "S204",
        "irsa-trust-scope",
        "workload identity not scoped to one service account",
        "A role assumed with the cluster's OIDC tokens (IRSA) trusts exactly one service "
        "account: StringEquals on `<issuer>:sub` = system:serviceaccount:<namespace>:<name> "
        "(the team's own for a team role) and on `<issuer>:aud` = sts.amazonaws.com.",
    ),
    Rule(
        "S205",
        "iam-trust-principals",
        "role assumable by anyone, or by people without MFA",
        "No role trusts `*`; roles that people of the account assume require MFA "
        "(aws:MultiFactorAuthPresent).",
    ),
    Rule(
        "S206",
        "no-team-cluster-admin",
        "team principal is a cluster administrator",
        "Neither a team's people (EKS access entries and access policies) nor its workloads "
        "(RBAC bindings) get cluster-admin, AmazonEKSClusterAdminPolicy, cluster-scoped "
        "AmazonEKSAdminPolicy or the system:masters group.",
    ),
)


def check(view: PlanView) -> Iterator[Violation]:
    for resource_type, field in POLICY_DOCUMENTS.items():
        for policy in view.of_type(resource_type):
            yield from _document(policy, policy.inputs.get(field), "its policy")
    for role in view.of_type(ROLE):
        for inline in as_list(role.inputs.get("inlinePolicies")):
            yield from _document(
                role, dig(inline, "policy"), f"inline policy '{dig(inline, 'name')}'"
            )
        yield from _trust(view, role)
        for arn in as_list(role.inputs.get("managedPolicyArns")):
            yield from _managed(view, role, str(arn), role)
    for resource_type, field in ATTACHMENTS.items():
        for attachment in view.of_type(resource_type):
            for role_name in as_list(attachment.inputs.get(field)):
                target = view.roles_by_name.get(str(role_name))
                arn = str(attachment.inputs.get("policyArn", ""))
                yield from _managed(view, target, arn, attachment)
    yield from _cluster_access(view)


def _actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action"))]


def _wide_resource(arn: str) -> bool:
    """`*`, or an ARN with a wildcard outside the object key of a named S3 bucket."""
    if arn == "*":
        return True
    if arn.startswith("arn:aws:s3:::"):
        bucket = arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        return "*" in bucket or "?" in bucket or not bucket
    return "*" in arn or "?" in arn


def _tag_scoped(statement: dict[str, Any]) -> bool:
    conditions = statement.get("Condition") or {}
    return any(
        str(key).startswith(RESOURCE_TAG_CONDITION)
        for operator, keys in conditions.items()
        if str(operator).startswith("StringEquals") and isinstance(keys, dict)
        for key in keys
    )


def _document(resource: PlannedResource, document: Any, what: str) -> Iterator[Violation]:
    who, path = subject(resource.spec), spec_path(resource.spec)
    if resource.spec.kind == "team" and resource.type == "aws:iam/rolePolicy:RolePolicy":
        path = ("teams", resource.spec.name, "bucket_access")  # what the team's grants become
    statements = policy_statements(document)
    if statements is None:
        yield Violation(
            "S201", who, f"{what} cannot be read as an IAM policy", path, describe(resource)
        )
        return
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid") or f"#{index + 1}"
        wild = [a for a in _actions(statement) if "*" in a or "?" in a]
        if "NotAction" in statement or wild:
            shown = ", ".join(wild) if wild else "NotAction"
            yield Violation(
                "S201",
                who,
                f"{what} allows wildcard actions ({shown}) in statement '{sid}'",
                path,
                describe(resource),
            )
        wide = [str(r) for r in as_list(statement.get("Resource")) if _wide_resource(str(r))]
        if "NotResource" in statement:
            wide.append("NotResource")
        reads_only = bool(_actions(statement)) and all(
            a.startswith(UNSCOPED_READS) and "*" not in a for a in _actions(statement)
        )
        if wide and not reads_only and not _tag_scoped(statement):
            yield Violation(
                "S202",
                who,
                f"{what} allows {', '.join(_actions(statement)) or 'its actions'} on "
                f"{', '.join(wide)} in statement '{sid}'",
                path,
                describe(resource),
            )


def _trusted_services(role: PlannedResource | None) -> set[str]:
    if role is None:
        return set()
    return {
        str(service)
        for statement in policy_statements(role.inputs.get("assumeRolePolicy")) or []
        if statement.get("Effect") == "Allow"
        for service in as_list(dig(statement, "Principal", "Service"))
    }


def _managed(
    view: PlanView, role: PlannedResource | None, arn: str, at: PlannedResource
) -> Iterator[Violation]:
    if not arn.startswith(AWS_MANAGED):
        return
    name = arn.removeprefix(AWS_MANAGED)
    allowed = set().union(
        *(AWS_MANAGED_FOR_SERVICE.get(s, frozenset()) for s in _trusted_services(role))
    )
    if name not in allowed:
        role_name = role.inputs.get("name", role.name) if role else "a role outside the plan"
        yield Violation(
            "S203",
            subject(at.spec),
            f"AWS-managed policy {name} is attached to role '{role_name}', which does not "
            "need it for EKS",
            spec_path(at.spec),
            describe(at),
        )


def _trust(view: PlanView, role: PlannedResource) -> Iterator[Violation]:
    who, path = subject(role.spec), spec_path(role.spec)
    role_name = role.inputs.get("name", role.name)
    statements = policy_statements(role.inputs.get("assumeRolePolicy"))
    if statements is None:
        yield Violation(
            "S205", who, f"role '{role_name}' has no readable trust policy", path, describe(role)
        )
        return
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        people = as_list(principal.get("AWS")) if isinstance(principal, dict) else []
        if principal == "*" or "*" in people:
            yield Violation(
                "S205", who, f"role '{role_name}' trusts any principal", path, describe(role)
            )
        elif (
            people
            and str(dig(statement, "Condition", "Bool", "aws:MultiFactorAuthPresent")).lower()
            != "true"
        ):
            yield Violation(
                "S205",
                who,
                f"role '{role_name}' can be assumed by {', '.join(map(str, people))} without MFA",
                path,
                describe(role),
            )
        federated = as_list(principal.get("Federated")) if isinstance(principal, dict) else []
        if any(":oidc-provider/" in str(f) for f in federated):
            yield from _irsa(view, role, statement, str(role_name))


def _irsa(
    view: PlanView, role: PlannedResource, statement: dict[str, Any], role_name: str
) -> Iterator[Violation]:
    who, path = subject(role.spec), spec_path(role.spec)
    equals = dig(statement, "Condition", "StringEquals") or {}
    subs = [v for k, v in equals.items() if str(k).endswith(":sub")]
    auds = [v for k, v in equals.items() if str(k).endswith(":aud")]
    expected = None
    if role.spec.kind == "team" and role.spec.name in view.ir.teams:
        team = view.ir.teams[role.spec.name]
        expected = f"system:serviceaccount:{team.namespace}:{team.service_account}"
        # The team's monitoring (payload sink, drift jobs) has service accounts of its own.
        own = {
            f"system:serviceaccount:{team.namespace}:{account}"
            for e in team.endpoints.values()
            if e.monitoring is not None
            for account in (e.monitoring.sink_service_account, e.monitoring.drift_service_account)
        }
        if subs and subs[0] in own:
            expected = subs[0]
    problems = []
    if len(subs) != 1 or not isinstance(subs[0], str) or "*" in subs[0] or "?" in subs[0]:
        problems.append("no single exact `:sub` condition (StringEquals) names its service account")
    elif not subs[0].startswith("system:serviceaccount:") or subs[0].count(":") != 3:
        problems.append(f"its `:sub` condition '{subs[0]}' is not one service account")
    elif expected is not None and subs[0] != expected:
        problems.append(f"it trusts '{subs[0]}' instead of the team's '{expected}'")
    if auds != [STS_AUDIENCE]:
        problems.append(f"its `:aud` condition is not exactly '{STS_AUDIENCE}'")
    for problem in problems:
        yield Violation(
            "S204",
            who,
            f"role '{role_name}' is assumable with cluster tokens, but {problem}",
            path,
            describe(role),
        )


def _team_of_principal(view: PlanView, principal_arn: str) -> str | None:
    name = principal_arn.rsplit("/", 1)[-1]
    role = view.roles_by_name.get(name)
    if role is not None and role.spec.kind in ("team", "endpoint"):
        return role.spec.team
    return None


def _cluster_access(view: PlanView) -> Iterator[Violation]:
    for entry in view.of_type(ACCESS_ENTRY):
        team = _team_of_principal(view, str(entry.inputs.get("principalArn", ""))) or (
            entry.spec.team if entry.spec.kind in ("team", "endpoint") else None
        )
        if team and MASTERS in as_list(entry.inputs.get("kubernetesGroups")):
            yield Violation(
                "S206",
                f"team '{team}'",
                f"its access entry maps its people to {MASTERS}",
                team_path(team),
                describe(entry),
            )
    for association in view.of_type(ACCESS_POLICY):
        team = _team_of_principal(view, str(association.inputs.get("principalArn", ""))) or (
            association.spec.team if association.spec.kind in ("team", "endpoint") else None
        )
        policy = str(association.inputs.get("policyArn", "")).rsplit("/", 1)[-1]
        scope = dig(association.inputs, "accessScope", "type")
        admin = policy == CLUSTER_ADMIN_ACCESS[0] or (
            policy == CLUSTER_ADMIN_ACCESS[1] and scope == "cluster"
        )
        if team and admin:
            yield Violation(
                "S206",
                f"team '{team}'",
                f"its people are granted {policy} (access scope: {scope or 'unset'})",
                team_path(team),
                describe(association),
            )
