"""Training at scale on the cluster: the operators that run TrainJobs and Experiments, and
what each team that uses them needs in its namespace.

Both operators are platform-wide (Kubeflow Trainer from its pinned chart with the
`torch-distributed` runtime, Katib from its pinned manifests), so a team's part of the
plan never decides what the platform installs. A team with a distributed step or a sweep
gets a Role that lets its workload service account - the identity of its pipeline tasks -
create and watch exactly those resources in its own namespace (no wildcards, no delete of
anything else), and a network policy that lets the pods of one training job reach each
other (torchrun's rendezvous and collectives) under the namespace's default deny.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from compiler.ir import Team
from platform_iac import versions
from platform_iac.kube import Manifest, object_meta, register_object
from platform_iac.naming import TEAM_LABEL, TEAM_TRAINING, TRAINING_OPERATORS

RBAC_GROUP = "rbac.authorization.k8s.io"
LAUNCHER_ROLE = "training-launcher"
LAUNCH_VERBS = ["create", "get", "list", "watch"]
STEP_LABEL = "mlplat.io/step"
"""Set on every training pod (TrainJob nodes, trial pods) by the compiled manifests."""


def uses_trainer(team: Team) -> bool:
    return any(s.distributed for p in team.pipelines.values() for s in p.steps.values())


def uses_katib(team: Team) -> bool:
    return any(p.tuning is not None for p in team.pipelines.values())


def launcher_rules(team: Team) -> list[dict[str, Any]]:
    rules = []
    if uses_trainer(team):
        rules.append(
            {
                "apiGroups": ["trainer.kubeflow.org"],
                "resources": ["trainjobs"],
                "verbs": LAUNCH_VERBS,
            }
        )
    if uses_katib(team):
        rules.append(
            {"apiGroups": ["kubeflow.org"], "resources": ["experiments"], "verbs": LAUNCH_VERBS}
        )
    return rules


def team_training_manifests(team: Team) -> list[Manifest]:
    """The launcher's Role and binding, and the job-internal network policy of a team."""
    labels = {TEAM_LABEL: team.name}
    training_pods = {"matchExpressions": [{"key": STEP_LABEL, "operator": "Exists"}]}
    return [
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "Role",
            "metadata": object_meta(LAUNCHER_ROLE, team.namespace, labels),
            "rules": launcher_rules(team),
        },
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "RoleBinding",
            "metadata": object_meta(LAUNCHER_ROLE, team.namespace, labels),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": LAUNCHER_ROLE},
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": team.service_account,
                    "namespace": team.namespace,
                }
            ],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": object_meta("allow-training-peers", team.namespace, labels),
            "spec": {
                "podSelector": training_pods,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": training_pods}]}],
                "egress": [{"to": [{"podSelector": training_pods}]}],
            },
        },
    ]


class TeamTraining(pulumi.ComponentResource):
    """What one team's training jobs need in its namespace."""

    def __init__(
        self,
        name: str,
        team: Team,
        after: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TEAM_TRAINING, name, None, opts)
        for manifest in team_training_manifests(team):
            register_object(manifest, pulumi.ResourceOptions(parent=self, depends_on=after))
        self.register_outputs({})


class TrainingOperators(pulumi.ComponentResource):
    """Kubeflow Trainer and Katib: platform-wide, so every team's plan can rely on them."""

    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, after: list[pulumi.Resource], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TRAINING_OPERATORS, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=after)
        chart = versions.KUBEFLOW_TRAINER
        trainer = k8s.helm.v3.Release(
            "kubeflow-trainer",
            name="kubeflow-trainer",
            chart=chart.chart,
            version=chart.version,
            namespace=chart.namespace,
            create_namespace=True,
            atomic=True,
            cleanup_on_fail=True,
            values={"runtimes": {"torchDistributed": {"enabled": True}}},
            opts=child,
        )
        katib = k8s.kustomize.v2.Directory("katib", directory=versions.KATIB_MANIFESTS, opts=child)
        self.ready = [trainer, katib]
        self.register_outputs({})


def team_training(
    team: Team, kube: pulumi.ProviderResource, after: list[pulumi.Resource]
) -> TeamTraining | None:
    """A using team's launcher Role and job network policy; None for other teams."""
    if not (uses_trainer(team) or uses_katib(team)):
        return None
    return TeamTraining(team.name, team, after, opts=pulumi.ResourceOptions(providers=[kube]))
