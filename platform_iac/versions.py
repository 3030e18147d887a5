"""Pinned versions of everything the program installs on the cluster.

Bump a version here and the plan shows the change as an update of the one resource that
installs it. Charts and manifests come from their upstream projects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chart:
    chart: str
    version: str
    repo: str | None
    """Helm repository URL; None for OCI charts (the chart is then an oci:// reference)."""
    namespace: str


CERT_MANAGER = Chart("cert-manager", "v1.16.2", "https://charts.jetstack.io", "cert-manager")
ISTIO_BASE = Chart(
    "base", "1.24.2", "https://istio-release.storage.googleapis.com/charts", "istio-system"
)
ISTIOD = Chart(
    "istiod", "1.24.2", "https://istio-release.storage.googleapis.com/charts", "istio-system"
)
ISTIO_GATEWAY = Chart(
    "gateway", "1.24.2", "https://istio-release.storage.googleapis.com/charts", "istio-system"
)
KSERVE_CRD = Chart("oci://ghcr.io/kserve/charts/kserve-crd", "v0.14.1", None, "kserve")
KSERVE = Chart("oci://ghcr.io/kserve/charts/kserve", "v0.14.1", None, "kserve")
NVIDIA_DEVICE_PLUGIN = Chart(
    "nvidia-device-plugin", "0.17.0", "https://nvidia.github.io/k8s-device-plugin", "kube-system"
)
CLUSTER_AUTOSCALER = Chart(
    "cluster-autoscaler", "9.43.2", "https://kubernetes.github.io/autoscaler", "kube-system"
)
KYVERNO = Chart("kyverno", "3.3.4", "https://kyverno.github.io/kyverno/", "kyverno")
"""Kyverno 1.13.2: mutates pods in team namespaces to the restricted defaults (pod_security.py)."""

KUBEFLOW_TRAINER = Chart(
    "oci://ghcr.io/kubeflow/charts/kubeflow-trainer", "2.3.0", None, "kubeflow-system"
)
"""Kubeflow Trainer v2.3.0 (with JobSet): runs the TrainJobs of distributed steps; the
TrainJob API the compiler writes (compiler/kfp_backend/trainjob.py) is this version's."""
KATIB = "v0.19.0"
KATIB_MANIFESTS = (
    f"https://github.com/kubeflow/katib/tree/{KATIB}/manifests/v1beta1/installs/katib-standalone"
)
"""Katib v0.19.0 (standalone): runs the Experiments of sweeps (compiler/kfp_backend/katib.py)."""

KNATIVE_SERVING = "knative-v1.16.0"
KNATIVE_SERVING_MANIFESTS = (
    f"https://github.com/knative/serving/releases/download/{KNATIVE_SERVING}/serving-crds.yaml",
    f"https://github.com/knative/serving/releases/download/{KNATIVE_SERVING}/serving-core.yaml",
)
KNATIVE_NET_ISTIO = (
    f"https://github.com/knative/net-istio/releases/download/{KNATIVE_SERVING}/net-istio.yaml"
)


def kfp_kustomizations(version: str) -> tuple[str, str]:
    """Kubeflow Pipelines (multi-user) at a release tag: cluster resources, then the install."""
    base = "https://github.com/kubeflow/pipelines/tree/{ref}/manifests/kustomize/{path}"
    return (
        base.format(ref=version, path="cluster-scoped-resources"),
        base.format(ref=version, path="env/platform-agnostic-multi-user"),
    )
