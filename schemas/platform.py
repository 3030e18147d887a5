"""The platform-wide part of the spec: `configs/platform.yaml` plus the `configs/env/` overlay."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, EmailStr, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.catalog import GpuModel
from schemas.policy import PolicySpec
from schemas.resources import Resources
from schemas.types import Duration, LabelKey, LabelValue, Name, SpecModel

AwsRegion = Literal[
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1",
    "eu-south-1", "eu-south-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "me-central-1", "af-south-1",
]  # fmt: skip

SUPPORTED_KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33")

ControlPlaneLog = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
ALL_CONTROL_PLANE_LOGS: tuple[ControlPlaneLog, ...] = (
    "api", "audit", "authenticator", "controllerManager", "scheduler",
)  # fmt: skip


def _version_text(value: Any) -> Any:
    if isinstance(value, float):
        raise PydanticCustomError(
            "version_as_number",
            "Kubernetes version {value} was read as a number",
            {"value": value, "hint": 'quote it, e.g. kubernetes_version: "1.31"'},
        )
    return value


KubernetesVersion = Annotated[
    Literal["1.29", "1.30", "1.31", "1.32", "1.33"], BeforeValidator(_version_text)
]


class VpcSpec(SpecModel):
    """The network the cluster lives in: a new VPC, or an existing one by id."""

    cidr: IPv4Network = IPv4Network("10.0.0.0/16")
    """Address range of a new VPC."""
    availability_zones: int = Field(default=3, ge=2, le=6)
    """How many availability zones get a private subnet."""
    existing_vpc_id: str | None = Field(default=None, pattern=r"^vpc-[0-9a-f]{8,17}$")
    """Use this VPC instead of creating one (its private subnets must be tagged)."""


class ClusterSpec(SpecModel):
    """The EKS cluster. Private by default."""

    name: Name | None = None
    """Cluster name; defaults to '<organisation>-<environment>'."""
    endpoint_access: Literal["private", "public_and_private"] = "private"
    """API server endpoint access; public access needs an explicit CIDR allow-list."""
    public_access_cidrs: list[IPv4Network] = []
    """CIDRs allowed to reach a public endpoint; never 0.0.0.0/0."""
    logging: list[ControlPlaneLog] = list(ALL_CONTROL_PLANE_LOGS)
    """Control-plane log types sent to CloudWatch."""
    vpc: VpcSpec = VpcSpec()

    @model_validator(mode="after")
    def _public_access_is_scoped(self) -> Self:
        if self.endpoint_access == "public_and_private" and not self.public_access_cidrs:
            raise PydanticCustomError(
                "public_endpoint_unscoped",
                "a public cluster endpoint needs public_access_cidrs",
                {
                    "field": "endpoint_access",
                    "hint": "list the office or VPN ranges, e.g. public_access_cidrs: [203.0.113.0/24]",
                },
            )
        for cidr in self.public_access_cidrs:
            if cidr.prefixlen == 0:
                raise PydanticCustomError(
                    "public_endpoint_unscoped",
                    "public_access_cidrs must not contain {cidr}: it opens the API server to "
                    "the whole internet",
                    {
                        "cidr": str(cidr),
                        "field": "public_access_cidrs",
                        "hint": "list specific ranges, e.g. 203.0.113.0/24",
                    },
                )
        if self.public_access_cidrs and self.endpoint_access == "private":
            raise PydanticCustomError(
                "public_endpoint_unscoped",
                "public_access_cidrs is set but endpoint_access is 'private'",
                {
                    "field": "public_access_cidrs",
                    "hint": "set endpoint_access: public_and_private, or remove the CIDRs",
                },
            )
        return self


class PulumiSpec(SpecModel):
    """Where this environment's Pulumi state lives."""

    backend_url: str = Field(pattern=r"^(file://|s3://|https://|azblob://|gs://)")
    """Pulumi state backend, e.g. 's3://acme-pulumi-state/prod' or 'file://.mlplat/pulumi'."""
    stack: str | None = None
    """Stack name; defaults to the environment name."""


class KfpSpec(SpecModel):
    """The Kubeflow Pipelines API of this environment."""

    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    """KFP API endpoint used by deploy to upload pipelines; unused by the local target."""
    version: str = "2.4.0"
    """Kubeflow Pipelines release installed on the cluster."""
    tracking_uri: str | None = Field(default=None, pattern=r"^https?://")
    """MLflow tracking server the steps of this environment's pipelines log to: every step
    gets MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME (<team>/<pipeline>, the experiment
    local deploys use). Unused by the local target, which tracks in its own registry."""


class PlatformDefaults(SpecModel):
    """Defaults applied to every team unless a spec says otherwise."""

    step_resources: Resources = Resources(cpu="500m", memory="1Gi")
    """Requests of a pipeline step or serving replica that sets none."""
    step_timeout: Duration = 6 * 3600
    """Timeout of a pipeline step that sets none."""
    python_image: str = "python:3.11-slim"
    """Base image of python steps that name none (pin it by digest for production)."""
    feature_server_image: str = "feastdev/feature-server:0.67.0"
    """Image with Feast 0.67 (requirements-feast.lock) for the feature server and
    materialization jobs (pin it by digest for production)."""
    feature_transformer_image: str = "ghcr.io/mlplat/feature-transformer:0.1.0"
    """Image of the KServe transformer that reads an endpoint's online features
    (compiler/features/transformer.py; pin it by digest for production)."""
    monitor_image: str = "ghcr.io/mlplat/monitor:0.1.0"
    """Image of the payload sink and the drift jobs of monitored endpoints (pin by digest)."""


class PlatformSpec(SpecModel):
    """The organisation, cloud account layout and cluster shared by every team."""

    organisation: Name
    """Short organisation name; prefixes every cloud resource."""
    owners: list[EmailStr] = Field(min_length=1)
    """The platform team: reviews platform-wide files, policies and destructive changes."""
    cloud: Literal["aws"] = "aws"
    region: AwsRegion
    kubernetes_version: KubernetesVersion
    cluster: ClusterSpec = ClusterSpec()
    pulumi: PulumiSpec
    kfp: KfpSpec = KfpSpec()
    default_node_pool: Name
    """Node pool of steps and endpoints that name none (must be a CPU pool)."""
    defaults: PlatformDefaults = PlatformDefaults()


class Taint(SpecModel):
    key: LabelKey
    value: LabelValue = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class GpuSpec(SpecModel):
    """The GPUs each node has; checked against the instance catalog."""

    model: GpuModel
    count: int = Field(ge=1, le=16)


class NodePoolSpec(SpecModel):
    """An EKS managed node group."""

    description: str = ""
    instance_types: list[str] = Field(min_length=1)
    """EC2 instance types (from the catalog); several types must share GPU model and count."""
    capacity_type: Literal["on_demand", "spot"] = "on_demand"
    min_size: int = Field(default=0, ge=0, le=1000)
    desired_size: int | None = Field(default=None, ge=0, le=1000)
    """Initial size; defaults to min_size."""
    max_size: int = Field(ge=1, le=1000)
    gpu: GpuSpec | None = None
    """GPUs per node, if you want the spec to state them (they come from the catalog anyway)."""
    disk_size_gb: int = Field(default=100, ge=20, le=16384)
    labels: dict[LabelKey, LabelValue] = {}
    taints: list[Taint] = []

    @model_validator(mode="after")
    def _sizes_are_ordered(self) -> Self:
        if self.min_size > self.max_size:
            raise PydanticCustomError(
                "size_bounds",
                "min_size ({min}) is greater than max_size ({max})",
                {
                    "min": self.min_size,
                    "max": self.max_size,
                    "field": "min_size",
                    "hint": "set min_size <= max_size",
                },
            )
        desired = self.desired_size
        if desired is not None and not self.min_size <= desired <= self.max_size:
            raise PydanticCustomError(
                "size_bounds",
                "desired_size ({desired}) must be between min_size ({min}) and max_size ({max})",
                {
                    "desired": desired,
                    "min": self.min_size,
                    "max": self.max_size,
                    "field": "desired_size",
                    "hint": "adjust desired_size, or leave it out to start at min_size",
                },
            )
        return self


class LifecycleSpec(SpecModel):
    """Object lifecycle of a bucket."""

    expire_after_days: int | None = Field(default=None, ge=1)
    """Delete current objects after this many days (retention); kept forever when unset."""
    noncurrent_versions_expire_after_days: int = Field(default=90, ge=1)
    """Delete overwritten or deleted versions after this many days."""
    transition_to_infrequent_access_after_days: int | None = Field(default=None, ge=30)
    """Move objects to STANDARD_IA after this many days (S3 requires at least 30)."""
    abort_incomplete_uploads_after_days: int = Field(default=7, ge=1)
    """Clean up multipart uploads that never completed."""


class BucketSpec(SpecModel):
    """An object-storage bucket (S3 in the cloud, a folder in the local environment)."""

    description: str = ""
    purpose: Literal["datasets", "artifacts", "models", "logs"]
    classification: Literal["public", "internal", "confidential", "pii"] = "internal"
    """Data classification; decides who may be granted access."""
    versioning: bool = True
    lifecycle: LifecycleSpec = LifecycleSpec()
    protect: bool = True
    """Protect from deletion (Pulumi protect + retain on delete). Turn off only for scratch data."""
    replicate_to: AwsRegion | None = None
    """Replicate objects to a bucket in this region (disaster recovery)."""


class EnvironmentSpec(SpecModel):
    """Set by the environment overlay (`configs/env/<name>.yaml`)."""

    target: Literal["local", "aws"]
    """Where `mlplat deploy` deploys: the embedded local platform or the cloud."""
    description: str = ""


class RootSpec(SpecModel):
    """`configs/platform.yaml` composed with its environment overlay (teams come separately)."""

    environment: EnvironmentSpec
    platform: PlatformSpec
    node_pools: dict[Name, NodePoolSpec] = Field(min_length=1, max_length=100)
    buckets: dict[Name, BucketSpec] = Field(default={}, max_length=500)
    policies: PolicySpec = PolicySpec()
