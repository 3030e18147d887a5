"""The program completes pipeline pods to Pod Security `restricted`: Kyverno at a pinned
version, a pod-defaults policy that never overrides what a pod sets, every team namespace
selected by its label, and serving created only once the defaults exist."""

from __future__ import annotations

import pytest

from platform_iac import versions
from platform_iac.pod_security import (
    POD_DEFAULTS_LABEL,
    POD_DEFAULTS_LEVEL,
    POLICY_NAME,
    pod_defaults_policy,
)
from tests.platform_iac.planning import of_type, one, plan_for

CLUSTER_POLICY = "kubernetes:kyverno.io/v1:ClusterPolicy"


def _anchored_keys(value, inside_security_context=False):
    """The keys the policy writes inside a securityContext (an added subtree counts once)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if inside_security_context and (key.startswith("+(") or not isinstance(item, dict)):
                yield key
                continue
            yield from _anchored_keys(item, inside_security_context or key == "securityContext")
    elif isinstance(value, list):
        for item in value:
            yield from _anchored_keys(item, inside_security_context)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_kyverno_and_the_policy_are_planned_before_serving(env):
    plan = plan_for(env)
    kyverno = one(plan, "kubernetes:helm.sh/v3:Release", "kyverno")
    assert (kyverno.inputs["chart"], kyverno.inputs["version"]) == (
        "kyverno",
        versions.KYVERNO.version,
    )
    policy = one(plan, CLUSTER_POLICY, POLICY_NAME)
    assert kyverno.key in policy.dependencies
    assert policy.inputs == pod_defaults_policy()
    for service in of_type(plan, "kubernetes:serving.kserve.io/v1beta1:InferenceService"):
        assert policy.key in service.dependencies, service.name
    for namespace in of_type(plan, "kubernetes:core/v1:Namespace"):
        assert namespace.inputs["metadata"]["labels"][POD_DEFAULTS_LABEL] == POD_DEFAULTS_LEVEL


def test_the_policy_only_fills_in_and_fails_open():
    policy = pod_defaults_policy()
    spec = policy["spec"]
    assert spec["webhookConfiguration"]["failurePolicy"] == "Ignore"
    assert spec["background"] is False
    assert (
        policy["metadata"]["annotations"]["pod-policies.kyverno.io/autogen-controllers"] == "none"
    )
    written = list(_anchored_keys(spec["rules"]))
    assert written and all(key.startswith("+(") for key in written), written
    for rule in spec["rules"]:
        (selected,) = rule["match"]["any"]
        assert selected["resources"]["kinds"] == ["Pod"]
        assert selected["resources"]["namespaceSelector"] == {
            "matchLabels": {POD_DEFAULTS_LABEL: POD_DEFAULTS_LEVEL}
        }
