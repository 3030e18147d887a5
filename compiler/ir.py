"""The Platform IR: the validated, fully defaulted, linked and immutable model of one environment.

It is the only input of every backend (KFP, Pulumi, local deploy). Names that backends need
(namespaces, service accounts, physical bucket names) are decided here, once.
`build/<env>/ir.json` is its canonical dump.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict

from compiler.canonical import canonical_json_with
from compiler.ir_features import (
    Entity,
    FeatureService,
    FeatureSource,
    FeatureStore,
    FeatureView,
    OnDemandView,
)
from compiler.ir_training import DistributedJob
from schemas.monitoring import FeatureMonitor, PredictionObjective
from schemas.pipeline import ContainerStep, ParameterSpec, PythonStep, RetrySpec, SecretRef
from schemas.platform import ClusterSpec, KfpSpec, LifecycleSpec, Taint
from schemas.policy import PolicySpec
from schemas.serving import AutoscalingSpec, CanarySpec, LatencyObjective, ModelCard, ModelSource
from schemas.team import BucketAccess, Quotas
from schemas.training import TuningSpec

if TYPE_CHECKING:
    from compiler.cache import BuildCache

IR_SCHEMA_VERSION = 1
NODE_POOL_LABEL = "mlplat.io/node-pool"
GPU_MODEL_LABEL = "mlplat.io/gpu-model"
GPU_TAINT_KEY = "nvidia.com/gpu"


class IRModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def trusted(cls, **fields: Any) -> Self:
        """Build from values the linker took from validated specs, without re-validating.

        The hot objects of a large organisation (steps and their inputs) are built this way;
        tests/compiler/test_link.py re-validates whole IRs to prove they are well-formed.
        """
        return cls.model_construct(**fields)  # type: ignore[return-value]


class NodePool(IRModel):
    name: str
    description: str
    instance_types: tuple[str, ...]
    capacity_type: Literal["on_demand", "spot"]
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gb: int
    labels: dict[str, str]
    """Spec labels plus mlplat's placement labels (node pool, GPU model)."""
    taints: tuple[Taint, ...]
    """Spec taints plus the nvidia.com/gpu NoSchedule taint on GPU pools."""
    gpu_model: str | None
    gpus_per_node: int
    vcpu_per_node: int
    memory_gib_per_node: int
    hourly_usd_per_node: Decimal
    """On-demand price of the most expensive instance type (a conservative estimate)."""

    @property
    def has_gpu(self) -> bool:
        return self.gpus_per_node > 0


class Bucket(IRModel):
    name: str
    physical_name: str
    description: str
    purpose: Literal["datasets", "artifacts", "models", "logs"]
    classification: Literal["public", "internal", "confidential", "pii"]
    versioning: bool
    lifecycle: LifecycleSpec
    protect: bool
    replicate_to: str | None


class ResolvedResources(IRModel):
    cpu: int
    """Millicores requested."""
    memory: int
    """Bytes requested."""
    cpu_limit: int
    memory_limit: int
    gpu: int
    gpu_model: str | None


class StepInput(IRModel):
    source: Literal["param", "step", "value"]
    type: str
    """Resolved type: a parameter type (str, int, ...) or an artifact type (Dataset, ...)."""
    param: str | None = None
    step: str | None = None
    output: str | None = None
    value: Any = None


class Step(IRModel):
    name: str
    description: str
    kind: Literal["python", "container"]
    python: PythonStep | None
    container: ContainerStep | None
    inputs: dict[str, StepInput]
    outputs: dict[str, str]
    after: tuple[str, ...]
    """Explicit ordering from the spec."""
    depends_on: tuple[str, ...]
    """Every upstream step: explicit `after` plus the producers of consumed outputs."""
    resources: ResolvedResources
    node_pool: str
    retry: RetrySpec
    caching: bool
    timeout_seconds: int
    env: dict[str, str]
    secrets: tuple[SecretRef, ...]
    feature_service: str | None = None
    """Feast name of the service whose training frame this step makes (a join step)."""
    distributed: DistributedJob | None = None
    """A distributed training job; `resources` are per worker."""


class Schedule(IRModel):
    cron: str
    """Five-field cron as written (UTC)."""
    enabled: bool
    max_concurrency: int
    parameters: dict[str, Any]


class Pipeline(IRModel):
    name: str
    team: str
    namespace: str
    service_account: str
    description: str
    parameters: dict[str, ParameterSpec]
    steps: dict[str, Step]
    order: tuple[str, ...]
    """Steps in a topological order (ties broken by the order written)."""
    schedule: Schedule | None
    tuning: TuningSpec | None = None
    """A hyperparameter sweep over the pipeline's parameters."""


class Model(IRModel):
    name: str
    team: str
    description: str
    framework: str
    registry_name: str
    stage: Literal["none", "staging", "production", "archived"]
    source: ModelSource | None
    card: ModelCard


class Monitoring(IRModel):
    """An endpoint's monitoring, with its reference and thresholds resolved."""

    features: dict[str, FeatureMonitor]
    """Each feature's method with its threshold filled in."""
    reference_pipeline: str
    reference_step: str
    reference_output: str
    window_requests: int | None
    window_seconds: int | None
    min_requests: int
    drift_share: float
    schedule: str
    sample_rate: float
    prediction: PredictionObjective | None
    retrain_pipeline: str | None
    cooldown_seconds: int
    payload_bucket: str
    """Bucket (by spec name) that holds the payload log, under `payload_prefix`."""
    payload_prefix: str
    """`<team>/payloads/<endpoint>/`: the only keys the endpoint and its drift job touch."""
    image: str
    """Image of the cluster's payload sink and drift job (platform.defaults.monitor_image)."""
    drift_job: str
    """Name of the drift CronJob in the team namespace."""
    drift_service_account: str
    sink_service_account: str
    """The team's payload sink (one per team with monitored endpoints)."""


class Endpoint(IRModel):
    name: str
    team: str
    namespace: str
    service_account: str
    description: str
    model: str
    model_team: str
    registry_name: str
    framework: str
    version: int | Literal["latest"]
    runtime: str
    image: str | None
    port: int
    min_replicas: int
    max_replicas: int
    autoscaling: AutoscalingSpec
    resources: ResolvedResources
    node_pool: str
    canary: CanarySpec | None
    latency_objective: LatencyObjective | None
    feature_service: FeatureService | None = None
    monitoring: Monitoring | None = None


class Team(IRModel):
    name: str
    description: str
    owners: tuple[str, ...]
    cost_center: str
    quotas: Quotas
    namespace: str
    service_account: str
    iam_role_name: str
    bucket_access: tuple[BucketAccess, ...]
    pipelines: dict[str, Pipeline]
    models: dict[str, Model]
    endpoints: dict[str, Endpoint]
    source_files: tuple[str, ...]
    """Config files of the team, relative to the configs folder."""
    entities: dict[str, Entity] = {}
    sources: dict[str, FeatureSource] = {}
    feature_views: dict[str, FeatureView] = {}
    feature_services: dict[str, FeatureService] = {}
    on_demand_views: dict[str, OnDemandView] = {}


class Pulumi(IRModel):
    backend_url: str
    stack: str
    project: str


class Platform(IRModel):
    organisation: str
    owners: tuple[str, ...]
    cloud: Literal["aws"]
    region: str
    kubernetes_version: str
    cluster_name: str
    cluster: ClusterSpec
    pulumi: Pulumi
    kfp: KfpSpec
    default_node_pool: str


class PlatformIR(IRModel):
    schema_version: int = IR_SCHEMA_VERSION
    environment: str
    target: Literal["local", "aws"]
    platform: Platform
    node_pools: dict[str, NodePool]
    buckets: dict[str, Bucket]
    teams: dict[str, Team]
    policies: PolicySpec
    feature_store: FeatureStore | None = None
    """Set when a team declares features."""

    def canonical_json(self, memo: BuildCache | None = None) -> str:
        """The byte-stable dump: sorted keys, two-space indent, trailing newline.

        `memo`: a resident process's cache, which keeps each unchanged team's dump."""
        data = self.model_dump(mode="json", exclude={"teams"})
        return canonical_json_with(data, "teams", self.teams, _dump, memo)

    def spec_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def pipelines(self) -> list[Pipeline]:
        return [p for t in self.teams.values() for p in t.pipelines.values()]

    def endpoints(self) -> list[Endpoint]:
        return [e for t in self.teams.values() for e in t.endpoints.values()]

    def models(self) -> list[Model]:
        return [m for t in self.teams.values() for m in t.models.values()]

    def feature_views(self) -> list[FeatureView]:
        return [v for t in self.teams.values() for v in t.feature_views.values()]


def team_namespace(team: str) -> str:
    return f"team-{team}"


def team_service_account(team: str) -> str:
    return f"{team}-workload"


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json")
