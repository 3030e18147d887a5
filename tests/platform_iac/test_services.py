"""Platform services under mocks: pinned versions, serverless KServe, multi-user pipelines and
a cluster autoscaler that can resize only this cluster's node groups."""

from __future__ import annotations

from platform_iac import versions
from tests.platform_iac.planning import of_type, one, statements

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_every_chart_and_manifest_is_pinned(prod):
    releases = of_type(prod, RELEASE)
    assert {r.name for r in releases} == {
        "cert-manager",
        "istio-base",
        "istiod",
        "istio-ingressgateway",
        "kserve-crd",
        "kserve",
        "nvidia-device-plugin",
        "cluster-autoscaler",
        "kyverno",
        "kubeflow-trainer",
    }
    for release in releases:
        assert release.inputs["version"], release.name
        assert release.inputs["atomic"] is True
    kserve = one(prod, RELEASE, "kserve")
    assert (kserve.inputs["chart"], kserve.inputs["version"]) == (versions.KSERVE.chart, "v0.14.1")
    kfp = [r.inputs["directory"] for r in of_type(prod, "kubernetes:kustomize/v2:Directory")]
    assert kfp == [
        "https://github.com/kubeflow/pipelines/tree/2.4.0/manifests/kustomize/env/platform-agnostic-multi-user",
        "https://github.com/kubeflow/pipelines/tree/2.4.0/manifests/kustomize/cluster-scoped-resources",
        "https://github.com/kubeflow/katib/tree/v0.19.0/manifests/v1beta1/installs/katib-standalone",
    ]
    trainer = one(prod, RELEASE, "kubeflow-trainer")
    assert trainer.inputs["version"] == versions.KUBEFLOW_TRAINER.version
    files = [r.inputs["file"] for r in of_type(prod, "kubernetes:yaml/v2:ConfigFile")]
    assert files and all(f"/download/{versions.KNATIVE_SERVING}/" in f for f in files)


def test_kserve_runs_serverless_after_its_dependencies(prod):
    kserve = one(prod, RELEASE, "kserve")
    assert kserve.inputs["values"] == {"kserve": {"controller": {"deploymentMode": "Serverless"}}}
    for needed in ("kserve-crd", "cert-manager"):
        assert one(prod, RELEASE, needed).key in kserve.dependencies
    features = one(prod, "kubernetes:core/v1:ConfigMapPatch", "knative-serving/config-features")
    assert features.inputs["data"]["kubernetes.podspec-nodeselector"] == "enabled"
    assert features.inputs["data"]["secure-pod-defaults"] == "enabled"


def test_ingress_gateway_is_internal(prod):
    gateway = one(prod, RELEASE, "istio-ingressgateway").inputs["values"]["service"]
    assert gateway["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true"
    }


def test_cluster_autoscaler_resizes_only_this_cluster(prod):
    policy = statements(
        one(prod, "aws:iam/rolePolicy:RolePolicy", "acme-prod-cluster-autoscaler").inputs["policy"]
    )
    resize = [s for s in policy if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert resize[0]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/acme-prod": "owned"}
    }
    (read,) = [s for s in policy if s["Sid"] == "DescribeCapacity"]
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in read["Action"])
    (trust,) = statements(
        one(prod, "aws:iam/role:Role", "acme-prod-cluster-autoscaler").inputs["assumeRolePolicy"]
    )
    assert list(trust["Condition"]["StringEquals"].values()) == [
        "sts.amazonaws.com",
        "system:serviceaccount:kube-system:cluster-autoscaler",
    ]
    release = one(prod, RELEASE, "cluster-autoscaler")
    assert release.inputs["values"]["autoDiscovery"] == {"clusterName": "acme-prod"}


def test_services_wait_for_the_default_node_pool(prod):
    group = one(prod, "aws:eks/nodeGroup:NodeGroup", "cpu-general")
    assert group.key in one(prod, RELEASE, "cert-manager").dependencies
