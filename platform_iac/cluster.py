"""Network and cluster: VPC with private subnets (or an existing VPC), the EKS cluster, its
KMS key, control-plane logs, the OIDC provider for workload identity and the node role.

Secure by default: the API server endpoint is private unless the spec lists the CIDRs that
may reach it; Kubernetes secrets are envelope-encrypted with a customer key that rotates;
every control-plane log type the spec names (all of them by default) goes to CloudWatch;
cluster access is managed with EKS access entries, never the aws-auth ConfigMap. The cluster,
its secrets key and its control-plane log group are protected and retained on delete.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Network

import pulumi
import pulumi_aws as aws

from platform_iac.naming import CLUSTER_NETWORK
from schemas.platform import ClusterSpec

CONTROL_PLANE_LOG_RETENTION_DAYS = 365
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
)


@dataclass(frozen=True)
class ClusterNetworkArgs:
    cluster_name: str
    kubernetes_version: str
    region: str
    spec: ClusterSpec
    tags: Mapping[str, str]


def _assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        },
        sort_keys=True,
    )


def split_vpc(cidr: IPv4Network, zones: int) -> tuple[list[IPv4Network], list[IPv4Network]]:
    """Private and public subnets, one each per zone; private ones take the first blocks."""
    blocks = list(cidr.subnets(prefixlen_diff=math.ceil(math.log2(2 * zones))))
    return blocks[:zones], blocks[zones : 2 * zones]


def _nth(index: int, names: Sequence[str]) -> str:
    return names[index]


def kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no static credentials)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
                }
            ],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}
            ],
            "current-context": cluster_name,
            "users": [{"name": cluster_name, "user": user}],
        },
        sort_keys=True,
    )


class ClusterNetwork(pulumi.ComponentResource):
    """The VPC (new or existing) and the EKS cluster every team shares."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[Sequence[str]]
    cluster_name: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    """Issuer host and path, without the scheme: the prefix of IRSA condition keys."""
    node_role_arn: pulumi.Output[str]
    node_role_ready: list[pulumi.Resource]
    kubeconfig: pulumi.Output[str]

    def __init__(
        self, name: str, args: ClusterNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(CLUSTER_NETWORK, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # What holds state is protected in Pulumi and kept in the account if removed from the
        # program, as the buckets are: a delete or replace is never one accidental `up` away.
        stateful = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        spec, tags = args.spec, dict(args.tags)

        if spec.vpc.existing_vpc_id:
            self.vpc_id = pulumi.Output.from_input(spec.vpc.existing_vpc_id)
            subnets = aws.ec2.get_subnets_output(
                filters=[
                    {"name": "vpc-id", "values": [spec.vpc.existing_vpc_id]},
                    {"name": "tag:kubernetes.io/role/internal-elb", "values": ["1"]},
                ],
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.private_subnet_ids = subnets.ids
        else:
            self._new_vpc(args, child)

        secrets_key = aws.kms.Key(
            f"{args.cluster_name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            # Losing the key makes every Secret the cluster encrypted with it unreadable.
            opts=stateful,
        )
        aws.kms.Alias(
            f"{args.cluster_name}-secrets",
            name=f"alias/{args.cluster_name}-eks-secrets",
            target_key_id=secrets_key.key_id,
            opts=child,
        )

        cluster_role = aws.iam.Role(
            f"{args.cluster_name}-cluster",
            name=f"{args.cluster_name}-cluster",
            assume_role_policy=_assume_role_policy("eks.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{args.cluster_name}-cluster",
            role=cluster_role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{args.cluster_name}-control-plane",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=CONTROL_PLANE_LOG_RETENTION_DAYS,
            tags=tags,
            opts=stateful,  # the control plane's audit trail
        )

        public = spec.endpoint_access == "public_and_private"
        if public and (
            not spec.public_access_cidrs or any(c.prefixlen == 0 for c in spec.public_access_cidrs)
        ):
            raise ValueError(
                "a public cluster endpoint needs specific public_access_cidrs, never 0.0.0.0/0"
            )
        cluster = aws.eks.Cluster(
            args.cluster_name,
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": self.private_subnet_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": public,
                "public_access_cidrs": [str(c) for c in spec.public_access_cidrs]
                if public
                else None,
            },
            encryption_config={
                "resources": ["secrets"],
                "provider": {"key_arn": secrets_key.arn},
            },
            enabled_cluster_log_types=list(spec.logging),
            access_config={
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            deletion_protection=True,
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(depends_on=[cluster_policy, log_group])
            ),
        )
        self.cluster_name = cluster.name

        issuer_url = cluster.identities.apply(lambda ids: ids[0]["oidcs"][0]["issuer"])
        oidc = aws.iam.OpenIdConnectProvider(
            args.cluster_name,
            url=issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags,
            opts=child,
        )
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer_url.apply(lambda url: url.removeprefix("https://"))

        node_role = aws.iam.Role(
            f"{args.cluster_name}-node",
            name=f"{args.cluster_name}-node",
            assume_role_policy=_assume_role_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        self.node_role_arn = node_role.arn
        self.node_role_ready = [
            aws.iam.RolePolicyAttachment(
                f"{args.cluster_name}-node-{policy}",
                role=node_role.name,
                policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                opts=child,
            )
            for policy in NODE_POLICIES
        ]

        self.kubeconfig = pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.certificate_authority
        ).apply(lambda v: kubeconfig(v[0], args.region, v[1], v[2]["data"]))
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "vpc_id": self.vpc_id,
                "oidc_provider_arn": self.oidc_provider_arn,
            }
        )

    def _new_vpc(self, args: ClusterNetworkArgs, child: pulumi.ResourceOptions) -> None:
        """A VPC whose nodes live in private subnets and reach out through one NAT per zone."""
        spec, name, tags = args.spec.vpc, args.cluster_name, dict(args.tags)
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self)
        )
        vpc = aws.ec2.Vpc(
            name,
            cidr_block=str(spec.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": name},
            opts=child,
        )
        self.vpc_id = vpc.id
        # The default security group allows all traffic between its members: empty it.
        aws.ec2.DefaultSecurityGroup(name, vpc_id=vpc.id, ingress=[], egress=[], opts=child)
        gateway = aws.ec2.InternetGateway(
            name, vpc_id=vpc.id, tags={**tags, "Name": name}, opts=child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags={**tags, "Name": f"{name}-public"},
            opts=child,
        )
        private_blocks, public_blocks = split_vpc(spec.cidr, spec.availability_zones)
        private_ids: list[pulumi.Output[str]] = []
        private_tables: list[pulumi.Output[str]] = []
        for index, (private_block, public_block) in enumerate(
            zip(private_blocks, public_blocks, strict=True)
        ):
            zone = zones.names.apply(partial(_nth, index))
            suffix = f"{name}-{index}"
            public_subnet = aws.ec2.Subnet(
                f"{suffix}-public",
                vpc_id=vpc.id,
                cidr_block=str(public_block),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{suffix}-public", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{suffix}-public",
                subnet_id=public_subnet.id,
                route_table_id=public_routes.id,
                opts=child,
            )
            address = aws.ec2.Eip(
                f"{suffix}-nat", domain="vpc", tags={**tags, "Name": f"{suffix}-nat"}, opts=child
            )
            nat = aws.ec2.NatGateway(
                suffix,
                allocation_id=address.id,
                subnet_id=public_subnet.id,
                tags={**tags, "Name": suffix},
                opts=child,
            )
            private_subnet = aws.ec2.Subnet(
                f"{suffix}-private",
                vpc_id=vpc.id,
                cidr_block=str(private_block),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={
                    **tags,
                    "Name": f"{suffix}-private",
                    "kubernetes.io/role/internal-elb": "1",
                    f"kubernetes.io/cluster/{name}": "shared",
                },
                opts=child,
            )
            routes = aws.ec2.RouteTable(
                f"{suffix}-private",
                vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags={**tags, "Name": f"{suffix}-private"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{suffix}-private",
                subnet_id=private_subnet.id,
                route_table_id=routes.id,
                opts=child,
            )
            private_ids.append(private_subnet.id)
            private_tables.append(routes.id)
        # S3 traffic stays on the AWS network instead of going through the NAT gateways.
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=private_tables,
            tags={**tags, "Name": f"{name}-s3"},
            opts=child,
        )
        self.private_subnet_ids = pulumi.Output.all(*private_ids)
