"""Network and cluster under mocks: private by default, encrypted, logged, IRSA-ready."""

from __future__ import annotations

from platform_iac.cluster import split_vpc
from schemas.platform import ALL_CONTROL_PLANE_LOGS
from tests.platform_iac.planning import of_type, one

CLUSTER = "aws:eks/cluster:Cluster"


def test_cluster_endpoint_is_private_unless_cidrs_are_listed(prod, dev):
    private = one(prod, CLUSTER, "acme-prod").inputs["vpcConfig"]
    assert private["endpointPrivateAccess"] is True
    assert private["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in private
    public = one(dev, CLUSTER, "acme-dev").inputs["vpcConfig"]
    assert public["endpointPublicAccess"] is True
    assert public["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_cluster_runs_the_spec_version_in_private_subnets(prod):
    cluster = one(prod, CLUSTER, "acme-prod")
    assert cluster.inputs["version"] == "1.31"
    private = {
        r.key: r
        for r in of_type(prod, "aws:ec2/subnet:Subnet")
        if r.inputs["tags"].get("kubernetes.io/role/internal-elb") == "1"
    }
    assert len(private) == 3
    assert len(cluster.inputs["vpcConfig"]["subnetIds"]) == 3
    assert all(
        r.inputs["mapPublicIpOnLaunch"] is False for r in of_type(prod, "aws:ec2/subnet:Subnet")
    )
    assert all(key in cluster.dependencies for key in private)


def test_secrets_are_envelope_encrypted_with_a_rotating_customer_key(prod):
    cluster = one(prod, CLUSTER, "acme-prod")
    encryption = cluster.inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    key = one(prod, "aws:kms/key:Key", "acme-prod-secrets")
    assert key.inputs["enableKeyRotation"] is True
    assert encryption["provider"]["keyArn"].startswith("arn:aws:kms:eu-west-1:")
    assert key.key in cluster.dependencies


def test_all_control_plane_logs_are_on_and_kept(prod):
    cluster = one(prod, CLUSTER, "acme-prod")
    assert sorted(cluster.inputs["enabledClusterLogTypes"]) == sorted(ALL_CONTROL_PLANE_LOGS)
    group = one(prod, "aws:cloudwatch/logGroup:LogGroup", "acme-prod-control-plane")
    assert group.inputs["name"] == "/aws/eks/acme-prod/cluster"
    assert group.inputs["retentionInDays"] >= 365


def test_access_entries_not_aws_auth_and_an_oidc_provider(prod):
    cluster = one(prod, CLUSTER, "acme-prod")
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    assert cluster.inputs["deletionProtection"] is True
    assert not [
        r
        for r in prod.resources
        if r.type.startswith("kubernetes:") and r.name.endswith("aws-auth")
    ]
    entries = of_type(prod, "aws:eks/accessEntry:AccessEntry")
    assert {e.inputs["kubernetesGroups"][0] for e in entries} == {
        "mlplat-team-chargeback",
        "mlplat-team-forecast",
        "mlplat-team-fraud",
        "mlplat-team-recsys",
        "mlplat-team-search",
    }
    oidc = one(prod, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "acme-prod")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert oidc.inputs["url"].startswith("https://oidc.eks.eu-west-1.amazonaws.com/id/")


def test_new_vpc_locks_the_default_security_group_and_keeps_s3_private(prod):
    default = one(prod, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "acme-prod")
    assert default.inputs.get("ingress", []) == [] and default.inputs.get("egress", []) == []
    endpoint = one(prod, "aws:ec2/vpcEndpoint:VpcEndpoint", "acme-prod-s3")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"
    assert len(endpoint.inputs["routeTableIds"]) == 3
    assert len(of_type(prod, "aws:ec2/natGateway:NatGateway")) == 3


def test_existing_vpc_is_used_not_created(variant):
    assert of_type(variant, "aws:ec2/vpc:Vpc") == []
    assert of_type(variant, "aws:ec2/subnet:Subnet") == []
    cluster = one(variant, CLUSTER, "acme-dev")
    assert len(cluster.inputs["vpcConfig"]["subnetIds"]) == 3


def test_nodes_get_only_the_worker_policies(prod):
    attached = {
        r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in of_type(prod, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("acme-prod-node-")
    }
    assert attached == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryReadOnly",
    }


def test_vpc_split_gives_disjoint_private_and_public_blocks():
    from ipaddress import IPv4Network

    private, public = split_vpc(IPv4Network("10.0.0.0/16"), 3)
    assert [str(n) for n in private] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert [str(n) for n in public] == ["10.0.96.0/19", "10.0.128.0/19", "10.0.160.0/19"]
