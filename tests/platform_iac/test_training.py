"""The program's part of training at scale, under Pulumi's mocks: the pinned operators, and
for each team that trains at scale (only those) a least-privilege launcher Role and a
network policy between the pods of its jobs."""

from __future__ import annotations

import pytest

from platform_iac import versions
from tests.platform_iac.planning import of_type, one, plan_for

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"


@pytest.fixture(scope="module")
def prod():
    return plan_for("prod")


def test_the_operators_are_installed_at_pinned_versions(prod) -> None:
    trainer = one(prod, "kubernetes:helm.sh/v3:Release", "kubeflow-trainer")
    assert trainer.inputs["chart"] == "oci://ghcr.io/kubeflow/charts/kubeflow-trainer"
    assert trainer.inputs["version"] == "2.3.0" == versions.KUBEFLOW_TRAINER.version
    assert trainer.inputs["values"] == {"runtimes": {"torchDistributed": {"enabled": True}}}
    assert trainer.spec.kind == "platform"
    katib = one(prod, "kubernetes:kustomize/v2:Directory", "katib")
    assert katib.inputs["directory"].endswith(
        "/v0.19.0/manifests/v1beta1/installs/katib-standalone"
    )


def test_only_the_training_team_may_launch_jobs_and_only_those(prod) -> None:
    roles = {r.name: r for r in of_type(prod, ROLE) if r.name.endswith("/training-launcher")}
    assert set(roles) == {"team-forecast/training-launcher"}
    role = roles["team-forecast/training-launcher"]
    assert role.spec.kind == "team" and role.spec.name == "forecast"
    assert role.inputs["rules"] == [
        {
            "apiGroups": ["trainer.kubeflow.org"],
            "resources": ["trainjobs"],
            "verbs": ["create", "get", "list", "watch"],
        },
        {
            "apiGroups": ["kubeflow.org"],
            "resources": ["experiments"],
            "verbs": ["create", "get", "list", "watch"],
        },
    ]
    binding = one(
        prod,
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        "team-forecast/training-launcher",
    )
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "forecast-workload", "namespace": "team-forecast"}
    ]


def test_a_jobs_pods_may_reach_each_other_and_nothing_more(prod) -> None:
    policy = one(
        prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "team-forecast/allow-training-peers"
    )
    pods = {"matchExpressions": [{"key": "mlplat.io/step", "operator": "Exists"}]}
    assert policy.inputs["spec"] == {
        "podSelector": pods,
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": pods}]}],
        "egress": [{"to": [{"podSelector": pods}]}],
    }
