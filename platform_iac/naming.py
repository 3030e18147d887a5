"""Names, tags and labels that the program and the plan agree on.

The plan maps every resource back to the spec object it was built for (a node pool, a
bucket, a team, an endpoint) by walking up to the nearest component below: component
types are fixed tokens and component names are the spec object's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from compiler.ir import PlatformIR, Team

COMPONENT_PACKAGE = "mlplat:platform"
CLUSTER_NETWORK = f"{COMPONENT_PACKAGE}:ClusterNetwork"
NODE_POOL = f"{COMPONENT_PACKAGE}:NodePool"
STORAGE = f"{COMPONENT_PACKAGE}:Storage"
DATA_BUCKET = f"{COMPONENT_PACKAGE}:DataBucket"
TEAM_TENANCY = f"{COMPONENT_PACKAGE}:TeamTenancy"
TEAM_IDENTITY = f"{COMPONENT_PACKAGE}:TeamIdentity"
PLATFORM_SERVICES = f"{COMPONENT_PACKAGE}:PlatformServices"
SERVING_ENDPOINT = f"{COMPONENT_PACKAGE}:ServingEndpoint"
TRAINING_OPERATORS = f"{COMPONENT_PACKAGE}:TrainingOperators"
TEAM_TRAINING = f"{COMPONENT_PACKAGE}:TeamTraining"
TEAM_MONITORING = f"{COMPONENT_PACKAGE}:TeamMonitoring"
TEAM_FEATURES = f"{COMPONENT_PACKAGE}:TeamFeatures"

SpecKind = Literal["platform", "node_pool", "bucket", "team", "endpoint"]

_KIND_OF_COMPONENT: dict[str, SpecKind] = {
    CLUSTER_NETWORK: "platform",
    STORAGE: "platform",
    PLATFORM_SERVICES: "platform",
    NODE_POOL: "node_pool",
    DATA_BUCKET: "bucket",
    TEAM_TENANCY: "team",
    TEAM_IDENTITY: "team",
    TEAM_MONITORING: "team",
    TEAM_FEATURES: "team",
    SERVING_ENDPOINT: "endpoint",
    TRAINING_OPERATORS: "platform",
    TEAM_TRAINING: "team",
}

# Kubernetes labels and annotations set by the platform.
TEAM_LABEL = "mlplat.io/team"
ENDPOINT_LABEL = "mlplat.io/endpoint"
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlplat"}
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"

# Namespaces of the platform services (decided by their upstream manifests and charts).
KUBEFLOW_NAMESPACE = "kubeflow"
KNATIVE_NAMESPACE = "knative-serving"
ISTIO_NAMESPACE = "istio-system"
CLUSTER_AUTOSCALER_SA = ("kube-system", "cluster-autoscaler")

# The mock account id of plans; real deploys use the caller's account.
PLAN_ACCOUNT_ID = "123456789012"


@dataclass(frozen=True, slots=True, order=True)
class SpecRef:
    """The spec object a resource was built for, in the user's words."""

    kind: SpecKind
    name: str
    team: str | None = None

    def label(self) -> str:
        words = {"node_pool": "node pool", "platform": "platform"}
        if self.kind == "endpoint":
            return f"endpoint {self.team}/{self.name}"
        return f"{words.get(self.kind, self.kind)} {self.name}"


def spec_ref(component_type: str, component_name: str) -> SpecRef | None:
    """Which spec object a component of this type and name stands for (None: not ours)."""
    kind = _KIND_OF_COMPONENT.get(component_type)
    if kind is None:
        return None
    if kind == "endpoint":
        team, _, name = component_name.partition("/")
        return SpecRef("endpoint", name, team)
    if kind == "team":
        return SpecRef("team", component_name, component_name)
    if kind == "platform":
        return SpecRef("platform", component_name)
    return SpecRef(kind, component_name)


def endpoint_component_name(team: str, endpoint: str) -> str:
    return f"{team}/{endpoint}"


def team_group(team: str) -> str:
    """Kubernetes group of a team's people (bound by RBAC, mapped by an EKS access entry)."""
    return f"mlplat-team-{team}"


def developer_role_name(ir: PlatformIR, team: str) -> str:
    """IAM role that a team's people assume to reach their namespace (64 characters max)."""
    return f"{ir.platform.organisation}-{ir.environment}-{team}-developer"[:64]


def aws_tags(ir: PlatformIR, team: Team | None = None, **extra: str) -> dict[str, str]:
    """Tags of every AWS resource: who owns it and which spec made it."""
    tags = {
        "mlplat.io/organisation": ir.platform.organisation,
        "mlplat.io/environment": ir.environment,
        "mlplat.io/managed-by": "mlplat",
    }
    if team is not None:
        tags["mlplat.io/team"] = team.name
        tags["mlplat.io/cost-center"] = team.cost_center
    tags.update(extra)
    return dict(sorted(tags.items()))
