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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from compiler.cache import REPO
from compiler.ir import PlatformIR, Team
from compiler.ir_features import FeatureStore, feature_store_yaml
from platform_iac.kube import Manifest, object_meta, register_object
from platform_iac.naming import TEAM_LABEL
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


def readable_views(team: Team) -> set[str]:
    """Feast names of the views the team's services read (own and shared); an on-demand view
    has no table of its own: it reads its source views'."""
    on_demand = {v.feast_name: v.sources for v in team.on_demand_views.values()}
    read = {f.view for s in team.feature_services.values() for f in s.features}
    return {source for view in read for source in on_demand.get(view, (view,))}


def team_policy(
    ir: PlatformIR, team: Team, account_id: str, kms_key_arn: str | None
) -> dict[str, Any] | None:
    """The IAM policy document of a team's feature store access (None: it needs none)."""
    store = ir.feature_store
    assert store is not None
    owned = {v.feast_name for v in team.feature_views.values() if v.online}
    reads = readable_views(team) | owned
    if not reads:
        return None
    arn = f"arn:aws:dynamodb:{ir.platform.region}:{account_id}:table"
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
    sources = sorted(
        {
            s.uri
            for t in ir.teams.values()
            for v in t.feature_views.values()
            if v.feast_name in reads
            for s in t.sources.values()
            if s.feast_name == v.source
        }
    )
    statements.append(
        {
            "Sid": "ReadSources",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{_s3(u)[0]}/{_s3(u)[1]}" for u in sources],
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
                            f"dynamodb.{ir.platform.region}.amazonaws.com",
                            f"s3.{ir.platform.region}.amazonaws.com",
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


def team_manifests(ir: PlatformIR, team: Team) -> list[Manifest]:
    """The team's feature store objects: repo config, server (when its endpoints read
    features) and the materialization job (when it owns online views)."""
    store = ir.feature_store
    assert store is not None
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


def _policy_of(ir: PlatformIR, team: Team) -> Callable[[list[Any]], dict[str, Any] | None]:
    return lambda values: team_policy(ir, team, values[0], values[1])


@dataclass(frozen=True)
class FeatureStoreArgs:
    ir: PlatformIR
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    namespaces: Mapping[str, pulumi.Resource]
    roles: Mapping[str, pulumi.Resource]
    tags: Mapping[str, str]
    kube: pulumi.ProviderResource
    buckets: Sequence[pulumi.Resource] = ()
    """The data buckets: the repository's source files are uploaded after them."""


class FeatureStoreStack(pulumi.ComponentResource):
    """Online tables, team access and the in-cluster Feast processes of one environment."""

    def __init__(
        self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(FEATURE_STORE, name, None, opts)
        ir, store = args.ir, args.ir.feature_store
        assert store is not None
        self.tables: dict[str, aws.dynamodb.Table] = {}
        for view in sorted(ir.feature_views(), key=lambda v: v.feast_name):
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
                opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
            )
        self.source_files: dict[str, aws.s3.BucketObjectv2] = {}
        for team in ir.teams.values():
            for source in sorted(team.sources.values(), key=lambda s: s.feast_name):
                if source.written_by is not None:
                    continue  # its publish step writes it after each run of the writer
                bucket, key = _s3(source.uri)
                self.source_files[source.feast_name] = aws.s3.BucketObjectv2(
                    f"{source.feast_name}-rows",
                    bucket=bucket,
                    key=key,
                    source=pulumi.FileAsset(str(REPO / source.path)),
                    server_side_encryption="aws:kms",
                    kms_key_id=args.kms_key_arn,
                    tags={**args.tags, TEAM_LABEL: team.name, "mlplat.io/source": source.name},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.buckets)),
                )
        for team_name, team in sorted(ir.teams.items()):
            policy = pulumi.Output.all(args.account_id, args.kms_key_arn).apply(
                _policy_of(ir, team)
            )
            if not (readable_views(team) or any(v.online for v in team.feature_views.values())):
                continue
            aws.iam.RolePolicy(
                f"{team_name}-workload-features",
                name="feature-store",
                role=team.iam_role_name,
                policy=policy.apply(lambda doc: json.dumps(doc, sort_keys=True)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.roles[team_name]]),
            )
            for manifest in team_manifests(ir, team):
                register_object(
                    manifest,
                    pulumi.ResourceOptions(
                        parent=self,
                        providers=[args.kube],
                        depends_on=[args.namespaces[team_name], args.roles[team_name]],
                    ),
                )
        self.register_outputs({"tables": {k: t.name for k, t in self.tables.items()}})
