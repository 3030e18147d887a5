"""Tenancy under mocks: restricted namespaces, quotas, default-deny networking, narrow RBAC."""

from __future__ import annotations

import pytest

from schemas.types import format_cpu, format_memory
from tests.platform_iac.planning import ir_for, of_type, one

TEAMS = ["fraud", "recsys", "search"]
K8S = "kubernetes:"


@pytest.mark.parametrize("team", TEAMS)
def test_namespace_enforces_the_restricted_pod_security_standard(prod, team):
    labels = one(prod, f"{K8S}core/v1:Namespace", f"team-{team}").inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.31"
    assert labels["mlplat.io/team"] == team


@pytest.mark.parametrize("team", TEAMS)
def test_quota_and_limits_come_from_the_team_quotas(prod, team):
    quotas = ir_for("prod").teams[team].quotas
    hard = one(prod, f"{K8S}core/v1:ResourceQuota", f"team-{team}/team-quota").inputs["spec"][
        "hard"
    ]
    assert hard == {
        "requests.cpu": format_cpu(quotas.cpu),
        "requests.memory": format_memory(quotas.memory),
        "requests.nvidia.com/gpu": str(quotas.gpus),
    }
    if team == "fraud":
        assert hard == {
            "requests.cpu": "24",
            "requests.memory": "96Gi",
            "requests.nvidia.com/gpu": "0",
        }
    (limits,) = one(prod, f"{K8S}core/v1:LimitRange", f"team-{team}/team-limits").inputs["spec"][
        "limits"
    ]
    assert limits["type"] == "Container"
    assert limits["max"] == {"cpu": hard["requests.cpu"], "memory": hard["requests.memory"]}
    assert limits["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}


@pytest.mark.parametrize("team", TEAMS)
def test_network_is_denied_by_default_then_dns_is_allowed(prod, team):
    policies = {
        p.name.split("/", 1)[1]: p.inputs["spec"]
        for p in of_type(prod, f"{K8S}networking.k8s.io/v1:NetworkPolicy")
        if p.name.startswith(f"team-{team}/")
    }
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    (dns,) = policies["allow-dns"]["egress"]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    (https,) = policies["allow-https-egress"]["egress"]
    assert https["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    # Only DNS, HTTPS and the pipelines API leave the namespace; nothing else opens ingress
    # (a monitored team's payload sink: from its endpoints, drift jobs and Prometheus).
    monitoring = {"allow-payload-sink-ingress", "allow-payload-sink-egress", "allow-drift-to-sink"}
    assert set(policies) == {
        "default-deny",
        "allow-dns",
        "allow-https-egress",
        "allow-kubeflow-pipelines",
        "allow-serving-ingress",
        *(monitoring if team == "fraud" else ()),
    }
    assert policies["allow-serving-ingress"]["podSelector"] == {
        "matchExpressions": [{"key": "mlplat.io/endpoint", "operator": "Exists"}]
    }


def _rules(plan, team):
    return {
        r.name.split("/", 1)[1]: r.inputs["rules"]
        for r in of_type(plan, f"{K8S}rbac.authorization.k8s.io/v1:Role")
        if r.name.startswith(f"team-{team}/")
    }


@pytest.mark.parametrize("team", TEAMS)
def test_rbac_has_no_wildcards_no_secret_reads_and_no_exec(prod, team):
    for role, rules in _rules(prod, team).items():
        for rule in rules:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], (role, rule)
            if "secrets" in rule["resources"]:
                assert not {"get", "list", "watch"} & set(rule["verbs"]), (role, rule)
            assert not {"pods/exec", "pods/attach", "pods/portforward"} & set(rule["resources"])
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


@pytest.mark.parametrize("team", TEAMS)
def test_the_team_group_and_workload_account_are_bound(prod, team):
    bindings = {
        r.name.split("/", 1)[1]: r.inputs
        for r in of_type(prod, f"{K8S}rbac.authorization.k8s.io/v1:RoleBinding")
        if r.name.startswith(f"team-{team}/")
    }
    assert bindings["team-member"]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"mlplat-team-{team}"}
    ]
    assert bindings["team-member"]["roleRef"]["name"] == "team-member"
    assert bindings["pipeline-workload"]["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{team}-workload", "namespace": f"team-{team}"}
    ]
