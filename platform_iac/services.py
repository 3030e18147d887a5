"""Platform services installed on the cluster, each at a pinned version (see versions.py).

- cert-manager (KServe's webhooks need certificates), Istio with an internal ingress gateway,
  Knative Serving with its Istio networking layer (KServe's serverless mode: scale on
  concurrency or requests per second, canary traffic splits), KServe itself;
- Kubeflow Pipelines in multi-user mode, so runs execute in each team's namespace under the
  team's service account;
- the NVIDIA device plugin on GPU pools, and the cluster autoscaler (its own IRSA role) that
  moves node pools between their spec's min and max sizes;
- Kyverno, with the policy that completes pods in team namespaces to the restricted Pod
  Security Standard (pod_security.py), before any serving pod is created.

Knative is told to accept the pod fields the serving stacks set (node selectors,
tolerations, security contexts) and to apply secure pod defaults to its own sidecars.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from compiler.ir import GPU_MODEL_LABEL, GPU_TAINT_KEY
from platform_iac import versions
from platform_iac.identity import irsa_trust_policy
from platform_iac.kube import register_object
from platform_iac.naming import CLUSTER_AUTOSCALER_SA, KNATIVE_NAMESPACE, PLATFORM_SERVICES
from platform_iac.pod_security import pod_defaults_policy
from platform_iac.versions import Chart

KNATIVE_FEATURES = {
    "kubernetes.podspec-nodeselector": "enabled",
    "kubernetes.podspec-tolerations": "enabled",
    "kubernetes.podspec-securitycontext": "enabled",
    "secure-pod-defaults": "enabled",
}
AUTOSCALER_READ_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
)


def autoscaler_policy(cluster_name: str) -> str:
    """Read everything it must see; resize only the node groups of this cluster."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DescribeCapacity",
                    "Effect": "Allow",
                    "Action": list(AUTOSCALER_READ_ACTIONS),
                    "Resource": "*",
                },
                {
                    "Sid": "ResizeOwnNodeGroups",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:SetDesiredCapacity",
                        "autoscaling:TerminateInstanceInAutoScalingGroup",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"
                        }
                    },
                },
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class PlatformServicesArgs:
    cluster_name: str
    region: str
    kfp_version: str
    gpu_pools: Sequence[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: Mapping[str, str]
    after: Sequence[pulumi.Resource] = ()
    """Nodes to run on: every service waits for them (dependencies of a component do not
    reach its children)."""


class PlatformServices(pulumi.ComponentResource):
    """Serving (Istio, Knative, KServe), Kubeflow Pipelines, GPU support and autoscaling."""

    ready: list[pulumi.Resource]
    """What a serving stack must wait for (the KServe controller and its CRDs, and the
    pod-security defaults of team namespaces)."""

    def __init__(
        self, name: str, args: PlatformServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(PLATFORM_SERVICES, name, None, opts)
        self._after = list(args.after)
        cert_manager = self._release(
            "cert-manager", versions.CERT_MANAGER, {"crds": {"enabled": True}}
        )
        istio_base = self._release("istio-base", versions.ISTIO_BASE, {})
        istiod = self._release("istiod", versions.ISTIOD, {}, [istio_base])
        gateway = self._release(
            "istio-ingressgateway",
            versions.ISTIO_GATEWAY,
            {
                "service": {
                    "type": "LoadBalancer",
                    "annotations": {
                        "service.beta.kubernetes.io/aws-load-balancer-internal": "true"
                    },
                }
            },
            [istiod],
        )
        knative_crds = k8s.yaml.v2.ConfigFile(
            "knative-serving-crds",
            file=versions.KNATIVE_SERVING_MANIFESTS[0],
            opts=self._opts(),
        )
        knative = k8s.yaml.v2.ConfigFile(
            "knative-serving-core",
            file=versions.KNATIVE_SERVING_MANIFESTS[1],
            opts=self._opts(knative_crds),
        )
        net_istio = k8s.yaml.v2.ConfigFile(
            "knative-net-istio",
            file=versions.KNATIVE_NET_ISTIO,
            opts=self._opts(knative, gateway),
        )
        features = k8s.core.v1.ConfigMapPatch(
            f"{KNATIVE_NAMESPACE}/config-features",
            metadata={"name": "config-features", "namespace": KNATIVE_NAMESPACE},
            data=KNATIVE_FEATURES,
            opts=self._opts(knative),
        )
        kserve_crds = self._release("kserve-crd", versions.KSERVE_CRD, {})
        kserve = self._release(
            "kserve",
            versions.KSERVE,
            {"kserve": {"controller": {"deploymentMode": "Serverless"}}},
            [kserve_crds, cert_manager, net_istio, features],
        )
        cluster_scoped, install = versions.kfp_kustomizations(args.kfp_version)
        kfp_cluster = k8s.kustomize.v2.Directory(
            "kubeflow-pipelines-cluster-scoped",
            directory=cluster_scoped,
            opts=self._opts(),
        )
        k8s.kustomize.v2.Directory(
            "kubeflow-pipelines",
            directory=install,
            opts=self._opts(kfp_cluster, istio_base, cert_manager),
        )
        if args.gpu_pools:
            self._release(
                "nvidia-device-plugin",
                versions.NVIDIA_DEVICE_PLUGIN,
                {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {"key": GPU_MODEL_LABEL, "operator": "Exists"}
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                    "tolerations": [
                        {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
                    ],
                },
            )
        self._autoscaler(args)
        self.ready = [kserve, self._pod_defaults()]
        self.register_outputs({})

    def _release(
        self,
        name: str,
        chart: Chart,
        values: Mapping[str, Any],
        after: Sequence[pulumi.Resource] = (),
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            name,
            name=name,
            chart=chart.chart,
            version=chart.version,
            repository_opts={"repo": chart.repo} if chart.repo else None,
            namespace=chart.namespace,
            create_namespace=True,
            atomic=True,
            cleanup_on_fail=True,
            values=dict(values),
            opts=self._opts(*after),
        )

    def _opts(self, *after: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[*self._after, *after])

    def _pod_defaults(self) -> pulumi.Resource:
        """Kyverno (highly available: a pod admitted while it is down gets no defaults and
        is refused by Pod Security admission) and the restricted pod defaults policy."""
        kyverno = self._release(
            "kyverno", versions.KYVERNO, {"admissionController": {"replicas": 3}}
        )
        return register_object(pod_defaults_policy(), self._opts(kyverno))

    def _autoscaler(self, args: PlatformServicesArgs) -> None:
        namespace, account = CLUSTER_AUTOSCALER_SA
        role = aws.iam.Role(
            f"{args.cluster_name}-cluster-autoscaler",
            name=f"{args.cluster_name}-cluster-autoscaler"[:64],
            assume_role_policy=pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
                lambda v: irsa_trust_policy(v[0], v[1], namespace, account)
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{args.cluster_name}-cluster-autoscaler",
            name="resize-node-groups",
            role=role.id,
            policy=autoscaler_policy(args.cluster_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._release(
            "cluster-autoscaler",
            versions.CLUSTER_AUTOSCALER,
            {
                "autoDiscovery": {"clusterName": args.cluster_name},
                "awsRegion": args.region,
                "rbac": {
                    "serviceAccount": {
                        "name": account,
                        "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                    }
                },
                "extraArgs": {
                    "balance-similar-node-groups": True,
                    "expander": "least-waste",
                    "skip-nodes-with-local-storage": False,
                },
            },
        )
