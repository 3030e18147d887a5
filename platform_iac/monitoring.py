"""Monitoring in the cluster, per team with monitored endpoints.

- Payload logging: each monitored InferenceService's `predictor.logger` sends request and
  response CloudEvents to the team's payload sink (`payload-sink` in the team namespace), which
  appends them under `s3://<logs bucket>/<team>/payloads/<endpoint>/` with a role that may only
  put objects under `<team>/payloads/`.
- A drift job per monitored endpoint: a CronJob on the spec's schedule, restricted pods, its
  own service account and role, which may only list and read that endpoint's payload prefix and
  read the team's pipeline root (the reference Dataset); with `on_drift: retrain` it may create
  Kubeflow runs in the team namespace, to start the retraining pipeline. It posts the drift
  score to the sink, which exports it for Prometheus.
- A ServiceMonitor on the sink's metrics and a PrometheusRule per endpoint: drift above the
  spec's share, and the latency objective.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi
import pulumi_aws as aws

from compiler.ir import Endpoint, Team
from compiler.link_monitoring import short_name as _short
from platform_iac.identity import irsa_trust_policy
from platform_iac.kube import Manifest, object_meta, register_object
from platform_iac.naming import ENDPOINT_LABEL, IRSA_ANNOTATION, TEAM_LABEL, TEAM_MONITORING
from platform_iac.serving import container_security_context, pod_security_context

SINK = "payload-sink"
SINK_PORT = 8080
COMPONENT_LABEL = "mlplat.io/component"
PROMETHEUS_NAMESPACE = "monitoring"
KFP_GROUP = "pipelines.kubeflow.org"


def monitored(team: Team) -> list[Endpoint]:
    return [e for _, e in sorted(team.endpoints.items()) if e.monitoring is not None]


def sink_url(endpoint: Endpoint) -> str:
    return f"http://{SINK}.{endpoint.namespace}.svc.cluster.local/{endpoint.name}"


def payload_logger(endpoint: Endpoint) -> dict[str, Any] | None:
    """The InferenceService predictor's `logger`: every request and response to the sink."""
    if endpoint.monitoring is None:
        return None
    return {"mode": "all", "url": sink_url(endpoint)}


def drift_name(endpoint: Endpoint) -> str:
    assert endpoint.monitoring is not None
    return endpoint.monitoring.drift_job


def sink_policy(bucket_arn: str, team: str) -> str:
    """The sink may only add objects under the team's payload prefix."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AppendPayloads",
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket_arn}/{team}/payloads/*",
                }
            ],
        },
        sort_keys=True,
    )


def drift_policy(
    payload_bucket_arn: str,
    prefix: str,
    artifacts_bucket_arn: str | None,
    team: str,
    kms_key_arn: str | None,
    region: str,
) -> str:
    """The drift job lists and reads one endpoint's payloads, and reads the team's pipeline
    root for the reference Dataset (decrypting it through S3 only); nothing else."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListPayloads",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": payload_bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
        },
        {
            "Sid": "ReadPayloads",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{payload_bucket_arn}/{prefix}*",
        },
    ]
    if artifacts_bucket_arn is not None:
        statements.append(
            {
                "Sid": "ReadReference",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{artifacts_bucket_arn}/{team}/pipeline-root/*",
            }
        )
        if kms_key_arn:
            statements.append(
                {
                    "Sid": "DecryptReferenceThroughS3",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": kms_key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                }
            )
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def _labels(team: Team, component: str, endpoint: str | None = None) -> dict[str, str]:
    labels = {TEAM_LABEL: team.name, COMPONENT_LABEL: component}
    if endpoint:
        labels["mlplat.io/monitors"] = endpoint
    return labels


def _container(name: str, image: str, args: list[str], cpu: str, memory: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "Always",
        "args": args,
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu, "memory": memory},
        },
        "securityContext": container_security_context(),
    }


def service_account(team: Team, name: str, role_arn: pulumi.Input[str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(
            name,
            team.namespace,
            {TEAM_LABEL: team.name},
            {IRSA_ANNOTATION: role_arn, "eks.amazonaws.com/sts-regional-endpoints": "true"},
        ),
    }


def sink_manifests(team: Team, image: str, bucket: str) -> list[Manifest]:
    """The team's payload sink: Deployment, Service, and the network paths it needs."""
    labels = _labels(team, SINK)
    account = monitored(team)[0].monitoring.sink_service_account  # type: ignore[union-attr]
    probe = {"httpGet": {"path": "/healthz", "port": SINK_PORT}, "periodSeconds": 10}
    container = {
        **_container(
            SINK,
            image,
            [
                "sink",
                f"--bucket={bucket}",
                f"--prefix={team.name}/payloads/",
                f"--port={SINK_PORT}",
            ],
            "250m",
            "256Mi",
        ),
        "ports": [{"name": "http", "containerPort": SINK_PORT, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "initialDelaySeconds": 10, "failureThreshold": 6},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(SINK, team.namespace, labels),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": account,
                    "automountServiceAccountToken": False,  # IRSA projects its own token
                    "securityContext": pod_security_context(),
                    "containers": [container],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(SINK, team.namespace, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    endpoint_pods = {"matchExpressions": [{"key": ENDPOINT_LABEL, "operator": "Exists"}]}
    drift_pods = {"matchLabels": {COMPONENT_LABEL: "drift-job"}}
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(f"allow-{SINK}-ingress", team.namespace, {TEAM_LABEL: team.name}),
        "spec": {
            "podSelector": {"matchLabels": labels},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": endpoint_pods}, {"podSelector": drift_pods}],
                    "ports": [{"protocol": "TCP", "port": SINK_PORT}],
                },
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": PROMETHEUS_NAMESPACE}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": SINK_PORT}],
                },
            ],
        },
    }
    egress: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(f"allow-{SINK}-egress", team.namespace, {TEAM_LABEL: team.name}),
        "spec": {
            "podSelector": {"matchExpressions": [endpoint_pods["matchExpressions"][0]]},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": labels}}],
                    "ports": [{"protocol": "TCP", "port": SINK_PORT}],
                }
            ],
        },
    }
    drift_egress = {
        **egress,
        "metadata": object_meta("allow-drift-to-sink", team.namespace, {TEAM_LABEL: team.name}),
        "spec": {**egress["spec"], "podSelector": drift_pods},
    }
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": object_meta(SINK, team.namespace, labels),
        "spec": {
            "selector": {"matchLabels": labels},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "60s"}],
        },
    }
    return [deployment, service, ingress, egress, drift_egress, monitor]


def drift_manifests(endpoint: Endpoint, bucket: str, account: str) -> list[Manifest]:
    """The endpoint's drift CronJob, its alert rules and, to retrain, its run permission."""
    mon = endpoint.monitoring
    assert mon is not None
    name = drift_name(endpoint)
    team_labels = {TEAM_LABEL: endpoint.team}
    pod_labels = {TEAM_LABEL: endpoint.team, COMPONENT_LABEL: "drift-job"}
    config = {
        "endpoint": endpoint.name,
        "namespace": endpoint.namespace,
        "payloads": f"s3://{bucket}/{mon.payload_prefix}",
        "sink": f"http://{SINK}.{endpoint.namespace}.svc.cluster.local",
        "monitoring": mon.model_dump(mode="json", exclude={"image"}),
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(name, endpoint.namespace, team_labels),
        "data": {"monitoring.json": json.dumps(config, indent=2, sort_keys=True) + "\n"},
    }
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": "/etc/mlplat", "readOnly": True}
    ]
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": name}}]
    if mon.retrain_pipeline is not None:
        # Only a token for the Kubeflow Pipelines API, to start the retraining run.
        mounts.append(
            {
                "name": "kfp-token",
                "mountPath": "/var/run/secrets/kubeflow/pipelines",
                "readOnly": True,
            }
        )
        volumes.append(
            {
                "name": "kfp-token",
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "path": "token",
                                "audience": KFP_GROUP,
                                "expirationSeconds": 3600,
                            }
                        }
                    ]
                },
            }
        )
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(
            name, endpoint.namespace, {**team_labels, "mlplat.io/monitors": endpoint.name}
        ),
        "spec": {
            "schedule": mon.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": 1800,
                    "template": {
                        "metadata": {"labels": pod_labels},
                        "spec": {
                            "serviceAccountName": account,
                            "automountServiceAccountToken": False,
                            "restartPolicy": "Never",
                            "securityContext": pod_security_context(),
                            "containers": [
                                {
                                    **_container(
                                        "drift",
                                        mon.image,
                                        ["check", "--config=/etc/mlplat/monitoring.json"],
                                        "500m",
                                        "1Gi",
                                    ),
                                    "volumeMounts": mounts,
                                }
                            ],
                            "volumes": volumes,
                        },
                    },
                }
            },
        },
    }
    selector = f'namespace="{endpoint.namespace}",endpoint="{endpoint.name}"'
    rules: list[dict[str, Any]] = [
        {
            "alert": "MlplatInputDrift",
            "expr": f"mlplat_drift_share{{{selector}}} > {mon.drift_share}",
            "labels": {"severity": "warning", "team": endpoint.team},
            "annotations": {
                "summary": f"inputs of {endpoint.team}/{endpoint.name} drifted from the "
                "training data",
                "retraining": mon.retrain_pipeline or "none (alert only)",
            },
        },
        {
            "alert": "MlplatDriftCheckMissing",
            "expr": f"time() - mlplat_drift_checked_timestamp_seconds{{{selector}}} > 7200 * 3",
            "labels": {"severity": "warning", "team": endpoint.team},
            "annotations": {"summary": f"no drift check of {endpoint.name} for a long time"},
        },
    ]
    if endpoint.latency_objective is not None:
        objective = endpoint.latency_objective
        rules.append(
            {
                "alert": "MlplatLatencyObjective",
                "expr": (
                    f"histogram_quantile({objective.percentile / 100}, sum by (le) (rate("
                    f'revision_app_request_latencies_bucket{{namespace_name="{endpoint.namespace}",'
                    f'service_name=~"{endpoint.name}-predictor.*"}}[5m]))) > {objective.target_ms}'
                ),
                "for": "10m",
                "labels": {"severity": "critical", "team": endpoint.team},
                "annotations": {
                    "summary": f"p{objective.percentile} latency of {endpoint.name} above "
                    f"{objective.target_ms} ms"
                },
            }
        )
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": object_meta(name, endpoint.namespace, team_labels),
        "spec": {"groups": [{"name": f"{endpoint.team}-{endpoint.name}", "rules": rules}]},
    }
    manifests: list[Manifest] = [config_map, cron, rule]
    if mon.retrain_pipeline is not None:
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": object_meta(name, endpoint.namespace, team_labels),
            "rules": [
                {"apiGroups": [KFP_GROUP], "resources": ["runs"], "verbs": ["create", "get"]}
            ],
        }
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": object_meta(name, endpoint.namespace, team_labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": endpoint.namespace}
            ],
        }
        manifests += [role, binding]
    return manifests


def _trust(values: list[Any], namespace: str, account: str) -> str:
    return irsa_trust_policy(values[0], values[1], namespace, account)


def _drift_document(values: list[Any], prefix: str, team: str, encrypted: bool, region: str) -> str:
    return drift_policy(
        values[0], prefix, values[1], team, values[2] if encrypted else None, region
    )


@dataclass(frozen=True)
class TeamMonitoringArgs:
    team: Team
    payload_bucket: str
    """Physical name of the bucket payloads go to."""
    bucket_arns: Mapping[str, pulumi.Input[str]]
    artifacts_bucket: str | None
    """Spec name of the artifacts bucket (the pipeline roots), if any."""
    kms_key_arn: pulumi.Input[str]
    encrypted_buckets: frozenset[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    region: str
    role_prefix: str
    """`<org>-<env>-<team>`: IAM role names start with it."""
    tags: Mapping[str, str]
    after: Sequence[pulumi.Resource]


class TeamMonitoring(pulumi.ComponentResource):
    """Payload sink and drift jobs of one team's monitored endpoints."""

    def __init__(
        self, name: str, args: TeamMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TEAM_MONITORING, name, None, opts)
        team = args.team
        endpoints = monitored(team)
        child = pulumi.ResourceOptions(parent=self)
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))
        mon0 = endpoints[0].monitoring
        assert mon0 is not None
        payload_arn = args.bucket_arns[mon0.payload_bucket]
        sink_account = mon0.sink_service_account
        sink_role = aws.iam.Role(
            f"{team.name}-{SINK}",
            name=_short(f"{args.role_prefix}-payloads", 64),
            description=f"Payload sink of team {team.name}: appends under {team.name}/payloads/",
            assume_role_policy=pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
                lambda v: irsa_trust_policy(v[0], v[1], team.namespace, sink_account)
            ),
            max_session_duration=3600,
            tags=dict(args.tags),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{team.name}-{SINK}",
            name="append-payloads",
            role=sink_role.id,
            policy=pulumi.Output.from_input(payload_arn).apply(
                lambda arn: sink_policy(arn, team.name)
            ),
            opts=child,
        )
        register_object(service_account(team, sink_account, sink_role.arn), after)
        for manifest in sink_manifests(team, mon0.image, args.payload_bucket):
            register_object(manifest, after)
        artifacts_arn = args.bucket_arns[args.artifacts_bucket] if args.artifacts_bucket else None
        encrypted = args.artifacts_bucket in args.encrypted_buckets
        for endpoint in endpoints:
            mon = endpoint.monitoring
            assert mon is not None
            account = mon.drift_service_account
            role = aws.iam.Role(
                f"{team.name}-{drift_name(endpoint)}",
                name=_short(f"{args.role_prefix}-{drift_name(endpoint)}", 64),
                description=f"Drift job of endpoint {team.name}/{endpoint.name}",
                assume_role_policy=pulumi.Output.all(
                    args.oidc_provider_arn, args.oidc_issuer
                ).apply(partial(_trust, namespace=team.namespace, account=account)),
                max_session_duration=3600,
                tags=dict(args.tags),
                opts=child,
            )
            prefix = mon.payload_prefix
            aws.iam.RolePolicy(
                f"{team.name}-{drift_name(endpoint)}",
                name="read-payloads",
                role=role.id,
                policy=pulumi.Output.all(payload_arn, artifacts_arn, args.kms_key_arn).apply(
                    partial(
                        _drift_document,
                        prefix=prefix,
                        team=team.name,
                        encrypted=encrypted,
                        region=args.region,
                    )
                ),
                opts=child,
            )
            register_object(service_account(team, account, role.arn), after)
            for manifest in drift_manifests(endpoint, args.payload_bucket, account):
                register_object(manifest, after)
        self.register_outputs({})
