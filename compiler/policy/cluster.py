"""S3xx: the EKS control plane is private (or public only to named networks), encrypts
Kubernetes secrets with a rotating key, logs everything, and is protected from deletion with
its key and log group. S4xx: nodes require IMDSv2 with
a hop limit of 1 (pods cannot reach the node's credentials), expose no SSH and encrypt
their disks."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_network

from compiler.diagnostics import Severity
from compiler.plan.model import PlannedResource
from compiler.policy.findings import Rule, Violation
from compiler.policy.plan_view import KMS_KEY, PlanView, as_list, describe, dig, spec_path, subject
from compiler.yaml_source import Path_

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_PATH: Path_ = ("platform", "cluster")

RULES = (
    Rule(
        "S301",
        "cluster-private-endpoint",
        "cluster API reachable from the internet",
        "The API server endpoint is private, or public only to the CIDRs listed in "
        "platform.cluster.public_access_cidrs, never 0.0.0.0/0.",
    ),
    Rule(
        "S302",
        "cluster-secrets-encryption",
        "Kubernetes secrets not encrypted with a rotating key",
        "Secrets are envelope-encrypted with a customer-managed KMS key of the plan that rotates.",
    ),
    Rule(
        "S303",
        "cluster-control-plane-logs",
        "control-plane logs missing",
        "Every control-plane log type (api, audit, authenticator, controllerManager, "
        "scheduler) goes to CloudWatch: audit trails for incidents and reviews.",
    ),
    Rule(
        "S304",
        "cluster-deletion-protection",
        "cluster, secrets key or control-plane logs not protected from deletion",
        "The EKS cluster, the KMS key that encrypts its secrets (without it every Secret is "
        "unreadable) and its control-plane log group are protected in Pulumi and retained in "
        "the account when removed from the program.",
    ),
    Rule(
        "S401",
        "node-imdsv2",
        "nodes allow IMDSv1 or a hop limit above 1",
        "Node launch templates require IMDSv2 tokens with a response hop limit of 1, so "
        "containers cannot borrow the node's IAM role; pods use their own (IRSA).",
    ),
    Rule(
        "S402",
        "node-no-ssh",
        "nodes reachable over SSH",
        "Node groups have no remote access and their launch templates no key pair; nodes "
        "are replaced, not logged into.",
    ),
    Rule(
        "S403",
        "node-disk-encryption",
        "node disks not encrypted",
        "Node launch templates encrypt their EBS volumes (pipeline scratch data lands "
        "there). A warning: account-level EBS default encryption, which the plan cannot "
        "see, may cover it.",
        severity=Severity.WARNING,
    ),
)


def check(view: PlanView) -> Iterator[Violation]:
    for cluster in view.of_type(CLUSTER):
        yield from _cluster(view, cluster)
    for group in view.of_type(NODE_GROUP):
        yield from _node_group(view, group)


def _cluster(view: PlanView, cluster: PlannedResource) -> Iterator[Violation]:
    who, res = subject(cluster.spec), describe(cluster)
    access = cluster.inputs.get("vpcConfig") or {}
    if access.get("endpointPublicAccess") is not False:
        cidrs = [str(c) for c in as_list(access.get("publicAccessCidrs"))]
        wide = [c for c in cidrs if _is_everywhere(c)]
        if not cidrs or wide:
            yield Violation(
                "S301",
                who,
                f"its API endpoint is public to {', '.join(wide) if wide else 'everyone (no CIDRs)'}",
                (*CLUSTER_PATH, "public_access_cidrs" if cidrs else "endpoint_access"),
                res,
                "use endpoint_access: private, or list the networks in public_access_cidrs",
            )
    if access.get("endpointPrivateAccess") is not True:
        yield Violation(
            "S301",
            who,
            "its API endpoint has no private access: nodes reach it over the internet",
            (*CLUSTER_PATH, "endpoint_access"),
            res,
        )
    encryption = [
        e
        for e in as_list(cluster.inputs.get("encryptionConfig"))
        if "secrets" in as_list(dig(e, "resources"))
    ]
    if not encryption or not dig(encryption[0], "provider", "keyArn"):
        yield Violation(
            "S302", who, "Kubernetes secrets are not encrypted with a KMS key", CLUSTER_PATH, res
        )
    else:
        keys = view.dependencies(cluster, KMS_KEY)
        if not keys:
            yield Violation(
                "S302",
                who,
                "secrets are encrypted with a KMS key the plan does not manage, so its "
                "rotation cannot be checked",
                CLUSTER_PATH,
                res,
            )
        for key in keys:
            if key.inputs.get("enableKeyRotation") is not True:
                yield Violation(
                    "S302",
                    who,
                    f"its secrets key '{key.name}' has rotation off",
                    CLUSTER_PATH,
                    describe(key),
                )
    enabled = set(as_list(cluster.inputs.get("enabledClusterLogTypes")))
    missing = [log for log in CONTROL_PLANE_LOGS if log not in enabled]
    if missing:
        yield Violation(
            "S303",
            who,
            f"control-plane logs {', '.join(missing)} are off",
            (*CLUSTER_PATH, "logging"),
            res,
            f"remove platform.cluster.logging to get all of them ({', '.join(CONTROL_PLANE_LOGS)})",
        )
    yield from _protection(view, cluster)


def _protection(view: PlanView, cluster: PlannedResource) -> Iterator[Violation]:
    """S304: the cluster and what its state depends on are protected and retained."""
    who = subject(cluster.spec)
    held = [
        ("it", cluster),
        *(("its secrets key", key) for key in view.dependencies(cluster, KMS_KEY)),
        *(("its control-plane log group", logs) for logs in view.dependencies(cluster, LOG_GROUP)),
    ]
    for what, resource in held:
        missing = [
            option
            for option, value in (
                ("protect", resource.protect),
                ("retain_on_delete", resource.retain_on_delete),
            )
            if not value
        ]
        if missing:
            yield Violation(
                "S304",
                who,
                f"{what}{'' if resource is cluster else f' {resource.name!r}'} is registered "
                f"without {' and '.join(missing)}",
                CLUSTER_PATH,
                describe(resource),
                "the platform program registers them with protect and retain_on_delete; "
                "lift protection deliberately, never in the same change as a delete",
            )


def _is_everywhere(cidr: str) -> bool:
    try:
        return ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return True


def _node_group(view: PlanView, group: PlannedResource) -> Iterator[Violation]:
    who, path, res = subject(group.spec), spec_path(group.spec), describe(group)
    templates = view.dependencies(group, LAUNCH_TEMPLATE)
    if group.inputs.get("remoteAccess"):
        yield Violation("S402", who, "its node group allows remote access (SSH)", path, res)
    if not templates:
        yield Violation(
            "S401",
            who,
            "its node group has no launch template, so IMDSv2 and the hop limit are not set",
            path,
            res,
        )
        return
    for template in templates:
        meta = template.inputs.get("metadataOptions") or {}
        hops = meta.get("httpPutResponseHopLimit")
        if meta.get("httpTokens") != "required" or not isinstance(hops, int) or hops > 1:
            yield Violation(
                "S401",
                who,
                f"its launch template sets httpTokens={meta.get('httpTokens')} and hop "
                f"limit {hops}, not required and 1",
                path,
                describe(template),
            )
        if template.inputs.get("keyName"):
            yield Violation(
                "S402",
                who,
                f"its launch template installs the SSH key pair '{template.inputs['keyName']}'",
                path,
                describe(template),
            )
        volumes = [dig(m, "ebs") or {} for m in as_list(template.inputs.get("blockDeviceMappings"))]
        if not volumes or any(str(v.get("encrypted")).lower() != "true" for v in volumes):
            yield Violation(
                "S403",
                who,
                "its launch template does not encrypt the node volumes",
                path,
                describe(template),
            )
