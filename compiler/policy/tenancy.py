"""S5xx: every team namespace enforces the restricted Pod Security Standard, caps requests
(GPUs included), defaults container limits and denies traffic unless allowed; RBAC given to
a team has no wildcards, never reads secrets and never execs into pods (S206: never
cluster-admin)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compiler.policy.findings import Rule, Violation
from compiler.policy.plan_view import KubeObject, PlanView, as_list, describe, dig, team_path

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
RESTRICTED = "restricted"
QUOTA_KEYS = ("requests.cpu", "requests.memory", "requests.nvidia.com/gpu")
SECRET_READS = frozenset({"get", "list", "watch", "*"})
INTO_PODS = frozenset({"pods/exec", "pods/attach", "pods/portforward", "pods/*"})
ESCALATING_VERBS = frozenset({"escalate", "bind", "impersonate"})
BUILT_IN_ROLES = {
    "cluster-admin": "S206",
    "admin": "reads secrets and execs into pods",
    "edit": "reads secrets and execs into pods",
    "view": None,
}

RULES = (
    Rule(
        "S501",
        "namespace-pod-security",
        "team namespace does not enforce restricted pod security",
        "Each team namespace carries pod-security.kubernetes.io/enforce: restricted, so the "
        "API server refuses privileged, root or host-sharing pods whoever creates them.",
    ),
    Rule(
        "S502",
        "namespace-quota",
        "team namespace without a complete resource quota",
        "Each team namespace has a ResourceQuota on requests.cpu, requests.memory and "
        "requests.nvidia.com/gpu (the team's quotas), so one team cannot starve the cluster "
        "or take GPUs it was not given.",
    ),
    Rule(
        "S503",
        "namespace-limit-range",
        "team namespace without container defaults",
        "Each team namespace has a LimitRange giving containers default requests and limits "
        "for CPU and memory, so pods that set none still count against the quota.",
    ),
    Rule(
        "S504",
        "namespace-default-deny",
        "team namespace without a default-deny network policy",
        "Each team namespace has a NetworkPolicy selecting every pod with no ingress and no "
        "egress rule for both directions; other policies then open only what is needed.",
    ),
    Rule(
        "S505",
        "rbac-no-wildcards",
        "team RBAC with wildcards or escalation",
        "Roles bound to a team list API groups, resources and verbs explicitly (no `*`), "
        "grant no escalate, bind or impersonate, and are defined in the plan so they can "
        "be reviewed.",
    ),
    Rule(
        "S506",
        "rbac-no-secret-reads",
        "team RBAC reads secrets",
        "Teams write their secrets but never get, list or watch them: a secret's value "
        "reaches only the pods that mount it.",
    ),
    Rule(
        "S507",
        "rbac-no-exec",
        "team RBAC execs, attaches or port-forwards into pods",
        "Teams debug through logs and events; exec, attach and port-forward into pods "
        "would bypass the workload identity and the network policies.",
    ),
)


def check(view: PlanView) -> Iterator[Violation]:
    for name, team in sorted(view.ir.teams.items()):
        yield from _namespace(view, name, team.namespace)
    yield from _rbac(view)


def _namespace(view: PlanView, team: str, namespace: str) -> Iterator[Violation]:
    who, path = f"team '{team}'", team_path(team)
    found = view.named("Namespace", namespace)
    if not found:
        yield Violation("S501", who, f"its namespace '{namespace}' is not in the plan", path)
    for obj in found:
        level = obj.labels.get(ENFORCE_LABEL)
        if level != RESTRICTED:
            yield Violation(
                "S501",
                who,
                f"namespace '{namespace}' enforces pod security '{level or 'none'}', not "
                f"'{RESTRICTED}'",
                path,
                describe(obj.resource),
            )
    quotas = list(view.kube("ResourceQuota", namespace))
    covered = {key for q in quotas for key in dig(q.manifest, "spec", "hard") or {}}
    missing = [key for key in QUOTA_KEYS if key not in covered]
    if missing:
        yield Violation(
            "S502",
            who,
            f"namespace '{namespace}' has no quota on {', '.join(missing)}",
            ("teams", team, "quotas"),
            describe(quotas[0].resource) if quotas else "",
        )
    if not any(_defaults_containers(o) for o in view.kube("LimitRange", namespace)):
        yield Violation(
            "S503",
            who,
            f"namespace '{namespace}' has no LimitRange with default CPU and memory requests "
            "and limits for containers",
            path,
        )
    if not any(_denies_all(o) for o in view.kube("NetworkPolicy", namespace)):
        yield Violation(
            "S504",
            who,
            f"namespace '{namespace}' has no default-deny NetworkPolicy (every pod, ingress "
            "and egress, no rules)",
            path,
        )


def _defaults_containers(limit_range: KubeObject) -> bool:
    for limit in as_list(dig(limit_range.manifest, "spec", "limits")):
        if dig(limit, "type") != "Container":
            continue
        if all(
            dig(limit, field, resource)
            for field in ("default", "defaultRequest")
            for resource in ("cpu", "memory")
        ):
            return True
    return False


def _denies_all(policy: KubeObject) -> bool:
    spec = policy.manifest.get("spec") or {}
    return (
        spec.get("podSelector") == {}
        and {"Ingress", "Egress"} <= set(as_list(spec.get("policyTypes")))
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def team_of_subject(
    view: PlanView, subject: dict[str, Any], binding_namespace: str | None
) -> str | None:
    """The team an RBAC subject acts for: the team's group, a service account of its
    namespace, or anyone bound inside its namespace."""
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    if kind == "Group" and name in view.team_groups:
        return view.team_groups[name]
    namespace = str(subject.get("namespace") or binding_namespace or "")
    if kind == "ServiceAccount" and namespace in view.team_namespaces:
        return view.team_namespaces[namespace]
    if binding_namespace in view.team_namespaces:
        return view.team_namespaces[str(binding_namespace)]
    return None


def _role_of(view: PlanView, binding: KubeObject) -> KubeObject | None:
    ref = binding.manifest.get("roleRef") or {}
    namespace = binding.namespace if ref.get("kind") == "Role" else None
    for role in view.kube(str(ref.get("kind")), namespace):
        if role.name == ref.get("name"):
            return role
    return None


def _rbac(view: PlanView) -> Iterator[Violation]:
    seen: set[tuple[str, str, str]] = set()
    bindings = [*view.kube("RoleBinding"), *view.kube("ClusterRoleBinding")]
    for binding in bindings:
        teams = sorted(
            {
                team
                for s in as_list(binding.manifest.get("subjects"))
                if isinstance(s, dict)
                and (team := team_of_subject(view, s, binding.namespace)) is not None
            }
        )
        if not teams:
            continue
        ref = binding.manifest.get("roleRef") or {}
        role = _role_of(view, binding)
        for team in teams:
            who, path = f"team '{team}'", team_path(team)
            if role is not None:
                for code, problem in _role_problems(view, role):
                    if (team, role.resource.key, code + problem) not in seen:
                        seen.add((team, role.resource.key, code + problem))
                        yield Violation(code, who, problem, path, describe(role.resource))
                continue
            name = str(ref.get("name"))
            built_in = (
                BUILT_IN_ROLES.get(name, "missing")
                if ref.get("kind") == "ClusterRole"
                else "missing"
            )
            bound = f"{binding.title()} binds {ref.get('kind')} '{name}'"
            if built_in == "S206":
                yield Violation(
                    "S206",
                    who,
                    f"{binding.title()} makes it cluster-admin",
                    path,
                    describe(binding.resource),
                )
            elif built_in == "missing":
                yield Violation(
                    "S505",
                    who,
                    f"{bound}, which the plan does not define, so its rules cannot be reviewed",
                    path,
                    describe(binding.resource),
                )
            elif built_in is not None:
                for code in ("S506", "S507"):
                    yield Violation(
                        code, who, f"{bound}, which {built_in}", path, describe(binding.resource)
                    )
    for role in view.kube("Role"):
        team = view.team_namespaces.get(role.namespace or "")
        if team is None:
            continue
        for code, problem in _role_problems(view, role):
            if (team, role.resource.key, code + problem) not in seen:
                seen.add((team, role.resource.key, code + problem))
                yield Violation(
                    code, f"team '{team}'", problem, team_path(team), describe(role.resource)
                )


def _role_problems(view: PlanView, role: KubeObject) -> tuple[tuple[str, str], ...]:
    """A role's problems; a resident process remembers them while the role is unchanged."""
    return view.memo.recall(
        "role-problems", role.resource, None, lambda: tuple(_rule_problems(role))
    )


def _rule_problems(role: KubeObject) -> Iterator[tuple[str, str]]:
    for index, rule in enumerate(as_list(role.manifest.get("rules"))):
        if not isinstance(rule, dict):
            continue
        where = f"{role.title()} rule {index + 1}"
        groups = [str(g) for g in as_list(rule.get("apiGroups"))]
        resources = [str(r) for r in as_list(rule.get("resources"))]
        verbs = {str(v) for v in as_list(rule.get("verbs"))}
        wild = [
            field
            for field, values in (("apiGroups", groups), ("resources", resources), ("verbs", verbs))
            if "*" in values
        ]
        if wild or rule.get("nonResourceURLs"):
            yield "S505", f"{where} uses a wildcard in {', '.join(wild) or 'nonResourceURLs'}"
        if verbs & ESCALATING_VERBS:
            yield "S505", f"{where} grants {', '.join(sorted(verbs & ESCALATING_VERBS))}"
        core = not groups or "" in groups or "*" in groups
        if core and {"secrets", "*"} & set(resources) and verbs & SECRET_READS:
            yield "S506", f"{where} can {', '.join(sorted(verbs & SECRET_READS))} secrets"
        if core and (INTO_PODS | {"*"}) & set(resources):
            shown = sorted((INTO_PODS | {"*"}) & set(resources))
            yield "S507", f"{where} grants {', '.join(sorted(verbs))} on {', '.join(shown)}"
