"""What a change to a resource means: the tables the diff classifies changes with.

- `REPLACE_ON`: per resource type, the input fields the provider cannot change in place (a
  change replaces the resource: create the new one, delete the old one). From the providers'
  documentation (fields marked "forces new resource").
- `STATEFUL`: resource types whose deletion or replacement loses data or everything running
  on them; with protected resources, these make a change destructive.
- `ROLLING`: updates that are in place for Pulumi but replace running machines.
- `BEHAVIOURAL_METADATA`: label and annotation prefixes that change behaviour (pod security,
  IAM roles of service accounts, serving mode): changing them is never "metadata only".
"""

from __future__ import annotations

from collections.abc import Sequence

FieldPath = tuple[str, ...]


def _paths(*dotted: str) -> tuple[FieldPath, ...]:
    return tuple(tuple(p.split(".")) for p in dotted)


_S3_CHILD = _paths("bucket", "expectedBucketOwner")
_K8S_IDENTITY = _paths("metadata.name", "metadata.namespace")

REPLACE_ON: dict[str, tuple[FieldPath, ...]] = {
    "aws:s3/bucket:Bucket": _paths("bucket", "bucketPrefix", "objectLockEnabled", "region"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _S3_CHILD,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _S3_CHILD,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _S3_CHILD
    ),
    "aws:s3/bucketVersioning:BucketVersioning": _S3_CHILD,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _S3_CHILD,
    "aws:s3/bucketLogging:BucketLogging": _S3_CHILD,
    "aws:s3/bucketPolicy:BucketPolicy": _paths("bucket"),
    "aws:kms/key:Key": _paths(
        "customerMasterKeySpec", "keySpec", "keyUsage", "multiRegion", "xksKeyId"
    ),
    "aws:kms/alias:Alias": _paths("name", "namePrefix"),
    "aws:dynamodb/table:Table": _paths("name", "hashKey", "rangeKey"),
    "aws:eks/cluster:Cluster": _paths(
        "name",
        "roleArn",
        "encryptionConfig",
        "kubernetesNetworkConfig",
        "bootstrapSelfManagedAddons",
        "accessConfig.bootstrapClusterCreatorAdminPermissions",
        "outpostConfig",
        "vpcConfig.securityGroupIds",
    ),
    "aws:eks/nodeGroup:NodeGroup": _paths(
        "clusterName",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "subnetIds",
        "instanceTypes",
        "capacityType",
        "amiType",
        "diskSize",
        "remoteAccess",
        "launchTemplate.id",
        "launchTemplate.name",
    ),
    "aws:eks/accessEntry:AccessEntry": _paths("clusterName", "principalArn", "type"),
    "aws:ec2/launchTemplate:LaunchTemplate": _paths("name", "namePrefix"),
    "aws:ec2/vpc:Vpc": _paths("cidrBlock", "instanceTenancy", "ipv4IpamPoolId"),
    "aws:ec2/subnet:Subnet": _paths(
        "vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId", "outpostArn"
    ),
    "aws:ec2/natGateway:NatGateway": _paths(
        "allocationId", "subnetId", "connectivityType", "privateIp"
    ),
    "aws:ec2/eip:Eip": _paths("domain", "address"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _paths("subnetId", "gatewayId"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _paths("vpcId", "serviceName", "vpcEndpointType"),
    "aws:ec2/routeTable:RouteTable": _paths("vpcId"),
    "aws:ec2/internetGateway:InternetGateway": (),
    "aws:iam/role:Role": _paths("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": _paths("name", "namePrefix", "role"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _paths("role", "policyArn"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _paths("url"),
    "aws:cloudwatch/logGroup:LogGroup": _paths("name", "namePrefix", "logGroupClass"),
    "kubernetes:helm.sh/v3:Release": _paths("name", "namespace"),
    "kubernetes:apps/v1:Deployment": (*_K8S_IDENTITY, *_paths("spec.selector")),
    "kubernetes:core/v1:Service": (*_K8S_IDENTITY, *_paths("spec.clusterIP", "spec.clusterIPs")),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": (*_K8S_IDENTITY, *_paths("roleRef")),
}
KUBERNETES_DEFAULT = _K8S_IDENTITY

STATEFUL: dict[str, str] = {
    "aws:s3/bucket:Bucket": "holds data",
    "aws:dynamodb/table:Table": "holds the online features that endpoints read",
    "aws:kms/key:Key": "encrypts stored data: what it encrypted becomes unreadable",
    "aws:eks/cluster:Cluster": "runs every workload and holds all cluster state",
    "aws:cloudwatch/logGroup:LogGroup": "holds logs (the control plane's audit trail)",
    "kubernetes:core/v1:Namespace": "deleting a namespace deletes everything in it",
    "kubernetes:core/v1:PersistentVolumeClaim": "holds data",
}

ROLLING: dict[str, tuple[tuple[FieldPath, ...], str]] = {
    "aws:ec2/launchTemplate:LaunchTemplate": (
        _paths(
            "blockDeviceMappings",
            "metadataOptions",
            "imageId",
            "userData",
            "tagSpecifications",
            "vpcSecurityGroupIds",
        ),
        "a new launch template version replaces every node of the pool (rolling update)",
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        _paths("releaseVersion", "version", "launchTemplate.version"),
        "replaces every node of the pool (rolling update)",
    ),
    "aws:eks/cluster:Cluster": (
        _paths("version"),
        "upgrades the control plane; node pools follow with rolling updates",
    ),
}

METADATA_FIELDS: tuple[FieldPath, ...] = _paths(
    "tags", "tagsAll", "metadata.labels", "metadata.annotations", "description"
)
BEHAVIOURAL_METADATA = (
    "pod-security.kubernetes.io/",
    "pipelines.kubeflow.org/",
    "eks.amazonaws.com/",
    "serving.kserve.io/",
    "autoscaling.knative.dev/",
)


def _overlaps(path: FieldPath, rule: FieldPath) -> bool:
    size = min(len(path), len(rule))
    return path[:size] == rule[:size]


def replace_rules(resource_type: str) -> tuple[FieldPath, ...]:
    if resource_type in REPLACE_ON:
        return REPLACE_ON[resource_type]
    if resource_type.startswith("kubernetes:") and not resource_type.startswith(
        ("kubernetes:helm", "kubernetes:kustomize", "kubernetes:yaml")
    ):
        return KUBERNETES_DEFAULT
    return ()


def forces_replacement(resource_type: str, path: FieldPath) -> bool:
    return any(_overlaps(path, rule) for rule in replace_rules(resource_type))


def rolling_reason(resource_type: str, paths: Sequence[FieldPath]) -> str | None:
    rule = ROLLING.get(resource_type)
    if rule and any(_overlaps(p, r) for p in paths for r in rule[0]):
        return rule[1]
    return None


def is_metadata(path: FieldPath) -> bool:
    """Tags, labels, annotations, descriptions - unless the key changes behaviour."""
    if not any(path[: len(rule)] == rule for rule in METADATA_FIELDS):
        return False
    if path[:1] == ("metadata",) and len(path) >= 3:
        return not path[2].startswith(BEHAVIOURAL_METADATA)
    return path[:1] != ("metadata",) or len(path) >= 3
