"""Tenancy, per team: the namespace and the guard rails around it.

- The namespace enforces the restricted Pod Security Standard (and audits and warns on it),
  and is labelled for the pod-security defaults that complete controller-made pods, such as
  pipeline pods, to that standard (pod_security.py).
- A ResourceQuota caps CPU, memory and GPU requests at the team's quotas; a LimitRange gives
  containers that set nothing small defaults and caps any one container at the quota.
- NetworkPolicies deny all traffic, then allow DNS, HTTPS egress outside the cluster (object
  storage, STS for IRSA, registries, the API server) except the instance metadata service,
  the Kubeflow Pipelines API, and - for teams with endpoints - ingress to serving pods from
  the ingress gateway and the Knative activator.
- RBAC binds the team's group to a Role with explicit verbs: no wildcards, secrets are
  write-only (never get/list/watch), no exec, attach or port-forward into pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from compiler.ir import Team
from platform_iac.kube import Manifest, object_meta, register_object
from platform_iac.naming import (
    ENDPOINT_LABEL,
    ISTIO_NAMESPACE,
    KNATIVE_NAMESPACE,
    KUBEFLOW_NAMESPACE,
    TEAM_LABEL,
    TEAM_TENANCY,
)
from platform_iac.pod_security import POD_DEFAULTS_LABEL, POD_DEFAULTS_LEVEL
from schemas.types import format_cpu, format_memory

POD_SECURITY_LEVEL = "restricted"
INSTANCE_METADATA = "169.254.169.254/32"
KUBEFLOW_PORTS = (8080, 8887, 8888, 9000)
"""metadata-grpc, ml-pipeline gRPC and HTTP, artifact store."""
DEFAULT_REQUEST = (100, 128 * 2**20)
DEFAULT_LIMIT = (500, 512 * 2**20)
RBAC_GROUP = "rbac.authorization.k8s.io"
MEMBER_ROLE = "team-member"
WORKLOAD_ROLE = "pipeline-workload"

READ = ["get", "list", "watch"]
MEMBER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": [
            "configmaps",
            "endpoints",
            "events",
            "persistentvolumeclaims",
            "pods",
            "pods/log",
            "serviceaccounts",
            "services",
        ],
        "verbs": READ,
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
    {
        "apiGroups": [""],
        "resources": ["configmaps", "persistentvolumeclaims"],
        "verbs": ["create", "delete", "patch", "update"],
    },
    # Teams write their credentials but can never read any secret back.
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete", "patch", "update"]},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "replicasets", "statefulsets"],
        "verbs": READ,
    },
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": READ},
    {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": READ},
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": READ},
    {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": READ},
    {
        "apiGroups": ["pipelines.kubeflow.org"],
        "resources": ["experiments", "jobs", "pipelines", "runs", "viewers"],
        "verbs": [
            "archive",
            "create",
            "delete",
            "disable",
            "enable",
            "get",
            "list",
            "readArtifact",
            "reportMetrics",
            "retry",
            "terminate",
            "unarchive",
            "update",
        ],
    },
]
WORKLOAD_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": READ},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflowtaskresults"],
        "verbs": ["create", "patch"],
    },
]


def _team_labels(team: Team) -> dict[str, str]:
    return {TEAM_LABEL: team.name}


def namespace_manifest(team: Team, kubernetes_version: str) -> Manifest:
    labels = {
        **_team_labels(team),
        # Kubeflow Pipelines (multi-user) sets up namespaces that carry this label.
        "pipelines.kubeflow.org/enabled": "true",
        POD_DEFAULTS_LABEL: POD_DEFAULTS_LEVEL,
    }
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = POD_SECURITY_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{kubernetes_version}"
    annotations = {
        "mlplat.io/owners": ", ".join(team.owners),
        "mlplat.io/cost-center": team.cost_center,
    }
    if team.description:
        annotations["mlplat.io/description"] = team.description
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": object_meta(team.namespace, None, labels, annotations),
    }


def quota_manifest(team: Team) -> Manifest:
    quotas = team.quotas
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": object_meta("team-quota", team.namespace, _team_labels(team)),
        "spec": {
            "hard": {
                "requests.cpu": format_cpu(quotas.cpu),
                "requests.memory": format_memory(quotas.memory),
                "requests.nvidia.com/gpu": str(quotas.gpus),
            }
        },
    }


def limit_range_manifest(team: Team) -> Manifest:
    cpu, memory = team.quotas.cpu, team.quotas.memory
    request_cpu, request_memory = min(DEFAULT_REQUEST[0], cpu), min(DEFAULT_REQUEST[1], memory)
    limit_cpu, limit_memory = min(DEFAULT_LIMIT[0], cpu), min(DEFAULT_LIMIT[1], memory)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": object_meta("team-limits", team.namespace, _team_labels(team)),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": {
                        "cpu": format_cpu(request_cpu),
                        "memory": format_memory(request_memory),
                    },
                    "default": {
                        "cpu": format_cpu(limit_cpu),
                        "memory": format_memory(limit_memory),
                    },
                    "max": {"cpu": format_cpu(cpu), "memory": format_memory(memory)},
                }
            ]
        },
    }


def _namespace_peer(namespace: str, pods: Mapping[str, str] | None = None) -> dict[str, Any]:
    peer: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    if pods:
        peer["podSelector"] = {"matchLabels": dict(pods)}
    return peer


def _policy(team: Team, name: str, spec: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(name, team.namespace, _team_labels(team)),
        "spec": spec,
    }


def network_policy_manifests(team: Team) -> list[Manifest]:
    everything: dict[str, Any] = {}
    policies = [
        _policy(
            team,
            "default-deny",
            {"podSelector": everything, "policyTypes": ["Ingress", "Egress"]},
        ),
        _policy(
            team,
            "allow-dns",
            {
                "podSelector": everything,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_namespace_peer("kube-system", {"k8s-app": "kube-dns"})],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    }
                ],
            },
        ),
        _policy(
            team,
            "allow-https-egress",
            {
                "podSelector": everything,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [INSTANCE_METADATA]}}],
                        "ports": [{"protocol": "TCP", "port": 443}],
                    }
                ],
            },
        ),
        _policy(
            team,
            "allow-kubeflow-pipelines",
            {
                "podSelector": everything,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_namespace_peer(KUBEFLOW_NAMESPACE)],
                        "ports": [{"protocol": "TCP", "port": p} for p in KUBEFLOW_PORTS],
                    }
                ],
            },
        ),
    ]
    if team.endpoints:
        policies.append(
            _policy(
                team,
                "allow-serving-ingress",
                {
                    "podSelector": {
                        "matchExpressions": [{"key": ENDPOINT_LABEL, "operator": "Exists"}]
                    },
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                _namespace_peer(ISTIO_NAMESPACE),
                                _namespace_peer(KNATIVE_NAMESPACE),
                            ]
                        }
                    ],
                },
            )
        )
    if any(e.feature_service for e in team.endpoints.values()):
        policies.append(_feature_transformer_egress(team))
    return policies


LOCAL_GATEWAY_PORTS = (80, 8081)
"""knative-local-gateway (istio-system): how a transformer reaches its predictor."""


def _feature_transformer_egress(team: Team) -> Manifest:
    """Serving pods of a team whose endpoints read features may call its feature server and,
    through Knative's local gateway, their own predictors (nothing else is opened)."""
    from platform_iac.features import COMPONENT_LABEL, SERVER_NAME, SERVER_PORT

    server = {"podSelector": {"matchLabels": {TEAM_LABEL: team.name, COMPONENT_LABEL: SERVER_NAME}}}
    return _policy(
        team,
        "allow-feature-transformer-egress",
        {
            "podSelector": {"matchExpressions": [{"key": ENDPOINT_LABEL, "operator": "Exists"}]},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [server], "ports": [{"protocol": "TCP", "port": SERVER_PORT}]},
                {
                    "to": [_namespace_peer(ISTIO_NAMESPACE)],
                    "ports": [{"protocol": "TCP", "port": p} for p in LOCAL_GATEWAY_PORTS],
                },
            ],
        },
    )


def _role(team: Team, name: str, rules: list[dict[str, Any]]) -> Manifest:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "Role",
        "metadata": object_meta(name, team.namespace, _team_labels(team)),
        "rules": rules,
    }


def _binding(team: Team, role: str, subject: dict[str, str]) -> Manifest:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": object_meta(role, team.namespace, _team_labels(team)),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role},
        "subjects": [subject],
    }


def rbac_manifests(team: Team, group: str) -> list[Manifest]:
    return [
        _role(team, MEMBER_ROLE, MEMBER_RULES),
        _binding(team, MEMBER_ROLE, {"apiGroup": RBAC_GROUP, "kind": "Group", "name": group}),
        _role(team, WORKLOAD_ROLE, WORKLOAD_RULES),
        _binding(
            team,
            WORKLOAD_ROLE,
            {"kind": "ServiceAccount", "name": team.service_account, "namespace": team.namespace},
        ),
    ]


def tenancy_manifests(team: Team, kubernetes_version: str, group: str) -> list[Manifest]:
    """Everything in the team's namespace, namespace first."""
    return [
        namespace_manifest(team, kubernetes_version),
        quota_manifest(team),
        limit_range_manifest(team),
        *network_policy_manifests(team),
        *rbac_manifests(team, group),
    ]


@dataclass(frozen=True)
class TeamTenancyArgs:
    team: Team
    kubernetes_version: str
    group: str


class TeamTenancy(pulumi.ComponentResource):
    """A team's namespace with its quota, limits, network policies and RBAC."""

    namespace: pulumi.CustomResource

    def __init__(
        self, name: str, args: TeamTenancyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TEAM_TENANCY, name, None, opts)
        first, *rest = tenancy_manifests(args.team, args.kubernetes_version, args.group)
        self.namespace = register_object(first, pulumi.ResourceOptions(parent=self))
        for manifest in rest:
            register_object(
                manifest, pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
            )
        self.register_outputs({"namespace": args.team.namespace})
