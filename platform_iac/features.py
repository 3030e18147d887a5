"""The feature store in the cloud: Feast's DynamoDB online store, its S3 registry and offline
sources, a feature server per team that serves features, and scheduled materialization.

- One DynamoDB table per online feature view, named as Feast's DynamoDB store names them
  (`<project>.<view>`), encrypted with the platform's KMS key, with point-in-time recovery,
  deletion protection and protect + retain on delete (they hold state). DynamoDB has no
  network endpoint of its own to open: access is IAM only.
- Least privilege per team, on the team's workload role: read the tables of the views its
  services use (its own and those shared with it), write only its own views' tables
  (materialization), read the registry object and the sources of the views it reads.
- A team whose endpoints name a feature service runs Feast's feature server in its
  namespace (restricted pod security, requests and limits, probes, reachable only from the
  team's own pods); a team that owns online views materializes them on a schedule.

Everything is built per team (`TeamFeatures`, a child of the platform's `FeatureStoreStack`):
a team's resources depend on the platform, on its own views and on the source URIs of the
views shared with it (`view_sources`), never on other teams' objects, so plans cache and
shard them by team like the rest of a team's resources (`compiler.plan.sharded`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi
import pulumi_aws as aws

from compiler.cache import REPO
from compiler.ir import Team
from compiler.ir_features import (
    FeatureStore,
    feature_store_yaml,
    readable_views,
)
from platform_iac.kube import Manifest, object_meta, register_object
from platform_iac.naming import TEAM_FEATURES, TEAM_LABEL
from platform_iac.serving import container_security_context, pod_security_context

FEATURE_STORE = "mlplat:platform:FeatureStore"
SERVER_NAME = "feature-server"
SERVER_PORT = 6566
REPO_PATH = "/feature_repo"
MATERIALIZE_CRON = "15 * * * *"
COMPONENT_LABEL = "app.kubernetes.io/component"
READ_TABLE = ("dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem")
WRITE_TABLE = ("dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem")


def table_name(store: FeatureStore, view: str) -> str:
    return f"{store.project}.{view}"


def _s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def team_policy(
    store: FeatureStore,
    region: str,
    team: Team,
    sources: Mapping[str, str],
    account_id: str,
    kms_key_arn: str | None,
) -> dict[str, Any] | None:
    """The IAM policy document of a team's feature store access (None: it needs none).
    `sources`: `view_sources` of the whole IR."""
    owned = {v.feast_name for v in team.feature_views.values() if v.online}
    reads = readable_views(team) | owned
    if not reads:
        return None
    arn = f"arn:aws:dynamodb:{region}:{account_id}:table"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadOnlineFeatures",
            "Effect": "Allow",
            "Action": sorted(READ_TABLE),
            "Resource": sorted(f"{arn}/{table_name(store, v)}" for v in reads),
        }
    ]
    if owned:
        statements.append(
            {
                "Sid": "MaterializeOwnViews",
                "Effect": "Allow",
                "Action": sorted(WRITE_TABLE),
                "Resource": sorted(f"{arn}/{table_name(store, v)}" for v in owned),
            }
        )
    registry_bucket, registry_key = _s3(store.registry)
    statements.append(
        {
            "Sid": "ReadRegistry",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": f"arn:aws:s3:::{registry_bucket}/{registry_key}",
        }
    )
    uris = sorted({sources[view] for view in reads if view in sources})
    statements.append(
        {
            "Sid": "ReadSources",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{_s3(u)[0]}/{_s3(u)[1]}" for u in uris],
        }
    )
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseKeyThroughDynamoDBAndS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": [
                            f"dynamodb.{region}.amazonaws.com",
                            f"s3.{region}.amazonaws.com",
                        ]
                    }
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _labels(team: Team) -> dict[str, str]:
    return {TEAM_LABEL: team.name, COMPONENT_LABEL: SERVER_NAME}


def _container(store: FeatureStore, command: list[str]) -> dict[str, Any]:
    return {
        "name": "feast",
        "image": store.server_image,
        "imagePullPolicy": "Always",
        "command": command,
        "env": [{"name": "AWS_REGION", "value": store.region}],
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "repo", "mountPath": REPO_PATH, "readOnly": True}],
    }


def _pod(team: Team, containers: list[dict[str, Any]], restart: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": team.service_account,
        "automountServiceAccountToken": False,  # IRSA projects its own token
        "securityContext": pod_security_context(),
        "containers": containers,
        "volumes": [{"name": "repo", "configMap": {"name": f"{SERVER_NAME}-repo"}}],
    }
    if restart:
        spec["restartPolicy"] = restart
    return spec


def team_manifests(store: FeatureStore, team: Team) -> list[Manifest]:
    """The team's feature store objects: repo config, server (when its endpoints read
    features) and the materialization job (when it owns online views)."""
    serves = any(e.feature_service for e in team.endpoints.values())
    owned = sorted(v.feast_name for v in team.feature_views.values() if v.online)
    if not serves and not owned:
        return []
    ns = team.namespace
    manifests: list[Manifest] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta(f"{SERVER_NAME}-repo", ns, _labels(team)),
            "data": {"feature_store.yaml": feature_store_yaml(store)},
        }
    ]
    if serves:
        probe = {"httpGet": {"path": "/health", "port": SERVER_PORT}, "periodSeconds": 10}
        server = _container(
            store,
            # --max-requests 0: no periodic worker restarts, which drop requests in flight
            [
                *("feast", "-c", REPO_PATH, "serve", "-h", "0.0.0.0", "-p", str(SERVER_PORT)),
                *("--max-requests", "0"),
            ],
        )
        server["ports"] = [{"name": "http", "containerPort": SERVER_PORT}]
        server["readinessProbe"] = {**probe, "initialDelaySeconds": 5}
        server["livenessProbe"] = {**probe, "initialDelaySeconds": 20, "failureThreshold": 3}
        manifests += [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": object_meta(SERVER_NAME, ns, _labels(team)),
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": _labels(team)},
                    "template": {
                        "metadata": {"labels": _labels(team)},
                        "spec": _pod(team, [server], None),
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": object_meta(SERVER_NAME, ns, _labels(team)),
                "spec": {
                    "type": "ClusterIP",
                    "selector": _labels(team),
                    "ports": [{"name": "http", "port": 80, "targetPort": SERVER_PORT}],
                },
            },
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": object_meta(f"{SERVER_NAME}-from-team", ns, _labels(team)),
                "spec": {
                    "podSelector": {"matchLabels": _labels(team)},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [{"podSelector": {}}],
                            "ports": [{"protocol": "TCP", "port": SERVER_PORT}],
                        }
                    ],
                },
            },
        ]
    if owned:
        views = " ".join(f"--views {v}" for v in owned)
        job = _container(
            store,
            [
                "sh",
                "-c",
                f'feast -c {REPO_PATH} materialize-incremental {views} "$(date -u +%Y-%m-%dT%H:%M:%S)"',
            ],
        )
        manifests.append(
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": object_meta("materialize-features", ns, {TEAM_LABEL: team.name}),
                "spec": {
                    "schedule": MATERIALIZE_CRON,
                    "concurrencyPolicy": "Forbid",
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": {
                        "spec": {
                            "backoffLimit": 2,
                            "activeDeadlineSeconds": 3600,
                            "template": {
                                "metadata": {"labels": {TEAM_LABEL: team.name}},
                                "spec": _pod(team, [job], "Never"),
                            },
                        }
                    },
                },
            }
        )
    return manifests


class FeatureStoreStack(pulumi.ComponentResource):
    """The environment's feature store: the parent of every team's `TeamFeatures`. It holds
    no team's objects itself (it registers the same whatever the teams), so the platform's
    plan fragment never depends on a team's views."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(FEATURE_STORE, name, None, opts)
        self.register_outputs({})


@dataclass(frozen=True)
class TeamFeaturesArgs:
    store: FeatureStore
    region: str
    team: Team
    view_sources: Mapping[str, str]
    """`view_sources` of the whole IR: the policy reads the URIs of the views shared with it."""
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    namespace: pulumi.Resource
    role: pulumi.Resource
    tags: Mapping[str, str]
    kube: pulumi.ProviderResource
    buckets: Sequence[pulumi.Resource] = ()
    """The data buckets: the repository's source files are uploaded after them."""


class TeamFeatures(pulumi.ComponentResource):
    """One team's online tables, source uploads, access policy and Feast processes.

    Its children were registered under the `FeatureStoreStack` itself before; each carries
    an alias to that parent, so a stack deployed with the earlier layout keeps its tables
    (protected and retained) and every other object in place instead of replacing them."""

    def __init__(
        self,
        name: str,
        args: TeamFeaturesArgs,
        parent: FeatureStoreStack,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TEAM_FEATURES, name, None, pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(parent=parent)
        ))  # fmt: skip
        team, store = args.team, args.store
        moved = [pulumi.Alias(parent=parent)]
        self.tables: dict[str, aws.dynamodb.Table] = {}
        for view in sorted(team.feature_views.values(), key=lambda v: v.feast_name):
            if not view.online:
                continue
            self.tables[view.feast_name] = aws.dynamodb.Table(
                view.feast_name,
                name=table_name(store, view.feast_name),
                billing_mode="PAY_PER_REQUEST",
                hash_key="entity_id",
                attributes=[{"name": "entity_id", "type": "S"}],
                server_side_encryption={"enabled": True, "kms_key_arn": args.kms_key_arn},
                point_in_time_recovery={"enabled": True},
                deletion_protection_enabled=True,
                tags={**args.tags, TEAM_LABEL: view.team, "mlplat.io/feature-view": view.name},
                opts=pulumi.ResourceOptions(
                    parent=self, protect=True, retain_on_delete=True, aliases=moved
                ),
            )
        for source in sorted(team.sources.values(), key=lambda s: s.feast_name):
            if source.written_by is not None:
                continue  # its publish step writes it after each run of the writer
            bucket, key = _s3(source.uri)
            aws.s3.BucketObjectv2(
                f"{source.feast_name}-rows",
                bucket=bucket,
                key=key,
                source=pulumi.FileAsset(str(REPO / source.path)),
                server_side_encryption="aws:kms",
                kms_key_id=args.kms_key_arn,
                tags={**args.tags, TEAM_LABEL: team.name, "mlplat.io/source": source.name},
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=list(args.buckets), aliases=moved
                ),
            )
        if readable_views(team) or any(v.online for v in team.feature_views.values()):
            policy = pulumi.Output.all(args.account_id, args.kms_key_arn).apply(
                partial(_policy, store, args.region, team, dict(args.view_sources))
            )
            aws.iam.RolePolicy(
                f"{team.name}-workload-features",
                name="feature-store",
                role=team.iam_role_name,
                policy=policy,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.role], aliases=moved),
            )
            for manifest in team_manifests(store, team):
                register_object(
                    manifest,
                    pulumi.ResourceOptions(
                        parent=self,
                        providers=[args.kube],
                        depends_on=[args.namespace, args.role],
                        aliases=moved,
                    ),
                )
        self.register_outputs({"tables": {k: t.name for k, t in self.tables.items()}})


def _policy(
    store: FeatureStore, region: str, team: Team, sources: dict[str, str], values: list[Any]
) -> str:
    return json.dumps(
        team_policy(store, region, team, sources, values[0], values[1]), sort_keys=True
    )
