"""Restricted pod-security defaults for every pod in a team namespace, applied at admission.

Team namespaces enforce the Pod Security Standard `restricted` (tenancy.py). The pods the
platform writes itself (serving) set every field it requires, but many pods in a team
namespace are written by controllers: Kubeflow Pipelines' driver and launcher pods, Argo's
init and wait containers, KServe's storage initializer, Knative's queue proxy. And a
pipeline step can carry only what kfp-kubernetes 2.17.3 can express: user, group and
`runAsNonRoot`, not `allowPrivilegeEscalation`, dropped capabilities or a seccomp profile.
Such pods would be rejected by the namespace.

A Kyverno policy fills in what `restricted` requires wherever a pod leaves it unset, for
pods created in namespaces labelled `mlplat.io/pod-security-defaults: restricted` (every team
namespace). It never overrides a field a pod sets (add-if-absent anchors): a pod that asks
for what `restricted` forbids is still rejected, because Pod Security admission validates
after the mutating webhooks ran. Only Pods are mutated (no autogen rules for controllers),
so what Deployments and Knative revisions declare is never rewritten and does not drift.
The webhook fails open: when Kyverno is unavailable, pods that comply on their own (all
serving pods) are still admitted, and non-compliant ones are still refused by Pod Security
admission, so the mutation is a convenience and never the enforcement.
"""

from __future__ import annotations

from typing import Any

from platform_iac.kube import Manifest, object_meta

POD_DEFAULTS_LABEL = "mlplat.io/pod-security-defaults"
POD_DEFAULTS_LEVEL = "restricted"
POLICY_NAME = "mlplat-restricted-pod-defaults"
RUN_AS = 1000
"""The user and group of pods that name none (the image contract of team images)."""
WEBHOOK_TIMEOUT_SECONDS = 10


def _match() -> dict[str, Any]:
    return {
        "any": [
            {
                "resources": {
                    "kinds": ["Pod"],
                    "operations": ["CREATE"],
                    "namespaceSelector": {"matchLabels": {POD_DEFAULTS_LABEL: POD_DEFAULTS_LEVEL}},
                }
            }
        ]
    }


def _container_rule(field: str) -> dict[str, Any]:
    """For each container of `field` (containers, initContainers): no privilege escalation,
    no capabilities, unless the container says otherwise."""
    rule: dict[str, Any] = {
        "name": f"{field.lower()}-defaults",
        "match": _match(),
        "mutate": {
            "foreach": [
                {
                    "list": f"request.object.spec.{field}",
                    "patchStrategicMerge": {
                        "spec": {
                            field: [
                                {
                                    "name": "{{ element.name }}",
                                    "securityContext": {
                                        "+(allowPrivilegeEscalation)": False,
                                        "capabilities": {"+(drop)": ["ALL"]},
                                    },
                                }
                            ]
                        }
                    },
                }
            ]
        },
    }
    if field != "containers":  # absent on most pods: loop only when there is something
        rule["preconditions"] = {
            "all": [
                {
                    "key": f"{{{{ request.object.spec.{field}[] || `[]` | length(@) }}}}",
                    "operator": "GreaterThan",
                    "value": 0,
                }
            ]
        }
    return rule


def pod_defaults_policy() -> Manifest:
    """The Kyverno ClusterPolicy (kyverno.io/v1) that completes pods to `restricted`."""
    pod_rule = {
        "name": "pod-defaults",
        "match": _match(),
        "mutate": {
            "patchStrategicMerge": {
                "spec": {
                    "securityContext": {
                        "+(runAsNonRoot)": True,
                        "+(runAsUser)": RUN_AS,
                        "+(runAsGroup)": RUN_AS,
                        "+(seccompProfile)": {"type": "RuntimeDefault"},
                    }
                }
            }
        },
    }
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": object_meta(
            POLICY_NAME,
            annotations={
                "pod-policies.kyverno.io/autogen-controllers": "none",
                "policies.kyverno.io/description": (
                    "Completes pods in team namespaces to the restricted Pod Security "
                    "Standard where they leave a field unset"
                ),
            },
        ),
        "spec": {
            "admission": True,
            "background": False,
            "webhookConfiguration": {
                "failurePolicy": "Ignore",
                "timeoutSeconds": WEBHOOK_TIMEOUT_SECONDS,
            },
            "rules": [pod_rule, _container_rule("containers"), _container_rule("initContainers")],
        },
    }
