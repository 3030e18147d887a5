"""The whole program: the platform of one environment, from its IR.

Never creates resources inside `apply()` (preview and up would disagree) and never reads
anything but the IR, so the plan under mocks and a real deploy register the same resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from compiler.ir import Bucket, PlatformIR
from compiler.ir_features import (
    has_team_features,
    on_demand_views,
    served_features,
    view_sources,
)
from platform_iac.cluster import ClusterNetwork, ClusterNetworkArgs
from platform_iac.features import FeatureStoreStack, TeamFeatures, TeamFeaturesArgs
from platform_iac.identity import TeamIdentity, TeamIdentityArgs
from platform_iac.monitoring import TeamMonitoring, TeamMonitoringArgs, monitored
from platform_iac.naming import aws_tags, developer_role_name, endpoint_component_name, team_group
from platform_iac.node_pools import NodePoolArgs, NodePoolGroup
from platform_iac.services import PlatformServices, PlatformServicesArgs
from platform_iac.serving import ServingEndpoint, ServingEndpointArgs
from platform_iac.storage import Storage, StorageArgs
from platform_iac.tenancy import TeamTenancy, TeamTenancyArgs
from platform_iac.training import TrainingOperators, team_training


@dataclass(frozen=True)
class PlatformResources:
    """The building blocks, for stack outputs and tests."""

    cluster: ClusterNetwork
    node_pools: dict[str, NodePoolGroup]
    storage: Storage
    services: PlatformServices
    tenancy: dict[str, TeamTenancy]
    identity: dict[str, TeamIdentity]
    endpoints: dict[str, ServingEndpoint]


def models_bucket(ir: PlatformIR) -> Bucket | None:
    """Where serving reads models from: the first bucket with purpose 'models'."""
    for name in sorted(ir.buckets):
        if ir.buckets[name].purpose == "models":
            return ir.buckets[name]
    return None


def build_platform(
    ir: PlatformIR, feature_sources: Mapping[str, str] | None = None
) -> PlatformResources:
    """Register every resource of the environment described by `ir`.

    `feature_sources`: `features.view_sources` of the whole organisation, for a run on an IR
    restricted to some of its teams (a plan shard): a team's feature access reads the source
    URIs of the views other teams share with it. By default, those of `ir`."""
    platform = ir.platform
    tags = aws_tags(ir)
    cloud = aws.Provider("aws", region=platform.region)
    on_aws = pulumi.ResourceOptions(providers=[cloud])
    account_id = aws.get_caller_identity_output(
        opts=pulumi.InvokeOutputOptions(provider=cloud)
    ).account_id

    cluster = ClusterNetwork(
        "cluster",
        ClusterNetworkArgs(
            cluster_name=platform.cluster_name,
            kubernetes_version=platform.kubernetes_version,
            region=platform.region,
            spec=platform.cluster,
            tags=tags,
        ),
        opts=on_aws,
    )
    kube = k8s.Provider(
        "kubernetes",
        kubeconfig=cluster.kubeconfig,
        delete_unreachable=False,
    )
    node_pools = {
        name: NodePoolGroup(
            name,
            NodePoolArgs(
                pool=pool,
                cluster_name=cluster.cluster_name,
                name_prefix=platform.cluster_name,
                subnet_ids=cluster.private_subnet_ids,
                node_role_arn=cluster.node_role_arn,
                node_role_ready=cluster.node_role_ready,
                tags=tags,
            ),
            opts=on_aws,
        )
        for name, pool in sorted(ir.node_pools.items())
    }
    storage = Storage(
        "storage",
        StorageArgs(
            organisation=platform.organisation,
            environment=ir.environment,
            buckets=ir.buckets,
            account_id=account_id,
            tags=tags,
            region=platform.region,
        ),
        opts=on_aws,
    )
    services = PlatformServices(
        "services",
        PlatformServicesArgs(
            cluster_name=platform.cluster_name,
            region=platform.region,
            kfp_version=platform.kfp.version,
            gpu_pools=sorted(n for n, p in ir.node_pools.items() if p.has_gpu),
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            tags=tags,
            after=[node_pools[platform.default_node_pool].node_group],
        ),
        opts=pulumi.ResourceOptions(providers=[cloud, kube]),
    )

    training = TrainingOperators(
        "training", services.ready, opts=pulumi.ResourceOptions(providers=[kube])
    )
    encrypted = frozenset(set(storage.buckets) - {storage.log_bucket})
    bucket_arns = {name: bucket.arn for name, bucket in storage.buckets.items()}
    tenancy: dict[str, TeamTenancy] = {}
    identity: dict[str, TeamIdentity] = {}
    endpoints: dict[str, ServingEndpoint] = {}
    models = models_bucket(ir)
    store = ir.feature_store
    features = FeatureStoreStack("features", opts=on_aws) if store is not None else None
    sources = view_sources(ir.teams) if feature_sources is None else feature_sources
    for name, team in sorted(ir.teams.items()):
        group = team_group(name)
        tenancy[name] = TeamTenancy(
            name,
            TeamTenancyArgs(team=team, kubernetes_version=platform.kubernetes_version, group=group),
            opts=pulumi.ResourceOptions(providers=[kube]),
        )
        identity[name] = TeamIdentity(
            name,
            TeamIdentityArgs(
                team=team,
                developer_role_name=developer_role_name(ir, name),
                group=group,
                cluster_name=cluster.cluster_name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                bucket_arns=bucket_arns,
                encrypted_buckets=encrypted,
                kms_key_arn=storage.kms_key_arn,
                region=platform.region,
                account_id=account_id,
                namespace=tenancy[name].namespace,
                tags=aws_tags(ir, team),
            ),
            opts=pulumi.ResourceOptions(providers=[cloud, kube]),
        )
        team_training(team, kube, [tenancy[name].namespace, *training.ready])
        for endpoint in team.endpoints.values():
            if models is None:
                raise ValueError(
                    f"endpoint {name}/{endpoint.name} needs a bucket with purpose 'models' "
                    "to read its model from"
                )
            key = endpoint_component_name(name, endpoint.name)
            endpoints[key] = ServingEndpoint(
                key,
                ServingEndpointArgs(
                    endpoint=endpoint,
                    pool=ir.node_pools[endpoint.node_pool],
                    models_bucket=models.physical_name,
                    after=[tenancy[name].namespace, identity[name], *services.ready],
                    transformer_image=(
                        ir.feature_store.transformer_image if ir.feature_store else None
                    ),
                ),
                opts=pulumi.ResourceOptions(providers=[kube]),
            )
        if (watched := monitored(team)) and watched[0].monitoring is not None:
            TeamMonitoring(
                name,
                TeamMonitoringArgs(
                    team=team,
                    payload_bucket=ir.buckets[watched[0].monitoring.payload_bucket].physical_name,
                    bucket_arns=bucket_arns,
                    artifacts_bucket=next(
                        (n for n in sorted(ir.buckets) if ir.buckets[n].purpose == "artifacts"),
                        None,
                    ),
                    kms_key_arn=storage.kms_key_arn,
                    encrypted_buckets=encrypted,
                    oidc_provider_arn=cluster.oidc_provider_arn,
                    oidc_issuer=cluster.oidc_issuer,
                    region=platform.region,
                    role_prefix=team.iam_role_name.removesuffix("-workload"),
                    tags=aws_tags(ir, team),
                    after=[tenancy[name].namespace, *services.ready],
                ),
                opts=pulumi.ResourceOptions(providers=[cloud, kube]),
            )
        if store is not None and features is not None and has_team_features(team):
            TeamFeatures(
                name,
                TeamFeaturesArgs(
                    store=store,
                    region=platform.region,
                    team=team,
                    view_sources=sources,
                    account_id=account_id,
                    kms_key_arn=storage.kms_key_arn,
                    namespace=tenancy[name].namespace,
                    role=identity[name],
                    tags=tags,
                    kube=kube,
                    buckets=list(storage.buckets.values()),
                ),
                parent=features,
                opts=on_aws,
            )

    pulumi.export("cluster_name", cluster.cluster_name)
    pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
    pulumi.export(
        "buckets", {name: bucket.bucket_id for name, bucket in sorted(storage.buckets.items())}
    )
    # What serving reads of the feature store: the next cloud deploy compares it with its own
    # and refuses a change that breaks a serving model unless --allow-destroy.
    pulumi.export(
        "feature_views",
        served_features(ir.feature_views(), ir.endpoints(), on_demand_views(ir.teams)),
    )
    return PlatformResources(cluster, node_pools, storage, services, tenancy, identity, endpoints)
