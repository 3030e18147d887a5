"""Serving, per endpoint: a KServe InferenceService, or a Deployment + Service + autoscaler
for runtime 'custom' (a team's own server image).

Both run under the team's service account (IRSA: it reads the model from the models
bucket), on the endpoint's node pool (node selector plus the pool's taints as
tolerations), with the restricted security context, the requested CPU, memory and GPUs,
and health probes. Models are read from `s3://<models bucket>/<model team>/<model>/<version>/`.

KServe's canary: the InferenceService points at the canary version with
`canaryTrafficPercent`; KServe keeps sending the rest to the last revision rolled out at
100% (the stable version, recorded in the `mlplat.io/stable-version` annotation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from compiler.features.transformer import FeatureLookup
from compiler.ir import NODE_POOL_LABEL, Endpoint, NodePool
from platform_iac.kube import Manifest, object_meta, register_object
from platform_iac.naming import ENDPOINT_LABEL, SERVING_ENDPOINT, TEAM_LABEL
from schemas.types import format_cpu, format_memory

SERVER_PORT = 8080
RUN_AS = 1000
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True, slots=True)
class KServeRuntime:
    name: str
    """ClusterServingRuntime installed by KServe."""
    protocol: Literal["v1", "v2"]


KSERVE_RUNTIMES: dict[str, KServeRuntime] = {
    "sklearn": KServeRuntime("kserve-sklearnserver", "v2"),
    "xgboost": KServeRuntime("kserve-xgbserver", "v2"),
    "lightgbm": KServeRuntime("kserve-lgbserver", "v2"),
    "pytorch": KServeRuntime("kserve-torchserve", "v1"),
    "tensorflow": KServeRuntime("kserve-tensorflow-serving", "v1"),
    "onnx": KServeRuntime("kserve-tritonserver", "v2"),
    "triton": KServeRuntime("kserve-tritonserver", "v2"),
    "huggingface": KServeRuntime("kserve-huggingfaceserver", "v1"),
}
CUSTOM_METRICS = {
    "concurrency": "mlplat_http_requests_in_flight",
    "rps": "mlplat_http_requests_per_second",
}
"""Per-pod metrics the HPA of a custom server scales on (served by a metrics adapter)."""


def model_uri(models_bucket: str, endpoint: Endpoint, version: int | str) -> str:
    return f"s3://{models_bucket}/{endpoint.model_team}/{endpoint.model}/{version}/"


def _labels(endpoint: Endpoint) -> dict[str, str]:
    return {TEAM_LABEL: endpoint.team, ENDPOINT_LABEL: endpoint.name}


def _annotations(endpoint: Endpoint) -> dict[str, str]:
    notes = {
        "mlplat.io/model": endpoint.registry_name,
        "mlplat.io/model-version": str(endpoint.version),
    }
    if endpoint.canary:
        notes["mlplat.io/stable-version"] = str(endpoint.version)
        notes["mlplat.io/canary-version"] = str(endpoint.canary.version)
    if endpoint.latency_objective:
        objective = endpoint.latency_objective
        notes["mlplat.io/latency-objective"] = f"p{objective.percentile} < {objective.target_ms}ms"
    if endpoint.description:
        notes["mlplat.io/description"] = endpoint.description
    return notes


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(endpoint: Endpoint) -> dict[str, Any]:
    res = endpoint.resources
    requests = {"cpu": format_cpu(res.cpu), "memory": format_memory(res.memory)}
    limits = {"cpu": format_cpu(res.cpu_limit), "memory": format_memory(res.memory_limit)}
    if res.gpu:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(res.gpu)
    return {"requests": requests, "limits": limits}


def placement(pool: NodePool) -> dict[str, Any]:
    """Node selector and tolerations that put pods on (only) the endpoint's pool."""
    tolerations = []
    for taint in pool.taints:
        toleration: dict[str, Any] = {"key": taint.key, "effect": taint.effect}
        if taint.value:
            toleration.update(operator="Equal", value=taint.value)
        else:
            toleration["operator"] = "Exists"
        tolerations.append(toleration)
    spec: dict[str, Any] = {"nodeSelector": {NODE_POOL_LABEL: pool.name}}
    if tolerations:
        spec["tolerations"] = tolerations
    return spec


def _http_probe(path: str, *, delay: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": SERVER_PORT},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "failureThreshold": failures,
    }


FEATURE_SERVER_URL = "http://feature-server.{namespace}.svc.cluster.local"
"""The team's Feast feature server (platform_iac.features: Service feature-server, port 80)."""


def feature_transformer(endpoint: Endpoint, image: str) -> dict[str, Any]:
    """KServe's transformer of an endpoint with a feature service: requests carry entity keys,
    it reads the features online and calls the predictor (compiler/features/transformer.py)."""
    service = endpoint.feature_service
    assert service is not None
    lookup = FeatureLookup(
        FEATURE_SERVER_URL.format(namespace=endpoint.namespace),
        service.feast_name,
        tuple(service.columns()),
        {f.name: f.type for f in service.features},
        tuple(service.inputs()),  # join keys and the on-demand views' request values
    )
    return {
        "serviceAccountName": endpoint.service_account,
        "minReplicas": endpoint.min_replicas,
        "maxReplicas": endpoint.max_replicas,
        "securityContext": pod_security_context(),
        "containers": [
            {
                "name": "kserve-container",
                "image": image,
                "args": lookup.args(),
                "resources": {
                    "requests": {"cpu": "100m", "memory": "256Mi"},
                    "limits": {"cpu": "500m", "memory": "512Mi"},
                },
                "securityContext": container_security_context(),
                # KServe's model server answers the V2 health routes on its HTTP port
                "readinessProbe": _http_probe("/v2/health/ready", delay=5, period=10, failures=3),
                "livenessProbe": _http_probe("/v2/health/live", delay=15, period=20, failures=6),
            }
        ],
    }


def inference_service_manifest(
    endpoint: Endpoint, pool: NodePool, models_bucket: str, transformer_image: str | None = None
) -> Manifest:
    runtime = KSERVE_RUNTIMES[endpoint.runtime]
    model_format = endpoint.framework if endpoint.runtime == "triton" else endpoint.runtime
    served = endpoint.canary.version if endpoint.canary else endpoint.version
    if runtime.protocol == "v2":
        ready, live = "/v2/health/ready", "/v2/health/live"
    else:
        ready = live = f"/v1/models/{endpoint.name}"
    predictor: dict[str, Any] = {
        "serviceAccountName": endpoint.service_account,
        "minReplicas": endpoint.min_replicas,
        "maxReplicas": endpoint.max_replicas,
        "scaleMetric": endpoint.autoscaling.metric,
        "scaleTarget": endpoint.autoscaling.target,
        **placement(pool),
        "securityContext": pod_security_context(),
        "model": {
            "modelFormat": {"name": model_format},
            "runtime": runtime.name,
            "protocolVersion": runtime.protocol,
            "storageUri": model_uri(models_bucket, endpoint, served),
            "resources": resources(endpoint),
            "securityContext": container_security_context(),
            "readinessProbe": _http_probe(ready, delay=5, period=10, failures=3),
            "livenessProbe": _http_probe(live, delay=30, period=20, failures=6),
        },
    }
    if endpoint.canary:
        predictor["canaryTrafficPercent"] = endpoint.canary.traffic_percent
    from platform_iac.monitoring import payload_logger  # it builds on this module

    if (logger := payload_logger(endpoint)) is not None:
        predictor["logger"] = logger
    spec: dict[str, Any] = {"predictor": predictor}
    if endpoint.feature_service is not None and transformer_image is not None:
        spec["transformer"] = feature_transformer(endpoint, transformer_image)
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": object_meta(
            endpoint.name,
            endpoint.namespace,
            _labels(endpoint),
            {**_annotations(endpoint), "serving.kserve.io/deploymentMode": "Serverless"},
        ),
        "spec": spec,
    }


def custom_server_manifests(
    endpoint: Endpoint, pool: NodePool, models_bucket: str
) -> list[Manifest]:
    """Deployment, Service, HorizontalPodAutoscaler (and a disruption budget when redundant)."""
    labels = _labels(endpoint)
    meta = object_meta(endpoint.name, endpoint.namespace, labels, _annotations(endpoint))
    tcp_probe = {"tcpSocket": {"port": "http"}}
    container = {
        "name": "server",
        "image": endpoint.image,
        "ports": [{"name": "http", "containerPort": endpoint.port, "protocol": "TCP"}],
        "env": [
            {"name": "MODEL_NAME", "value": endpoint.registry_name},
            {"name": "MODEL_VERSION", "value": str(endpoint.version)},
            {"name": "MODEL_URI", "value": model_uri(models_bucket, endpoint, endpoint.version)},
        ],
        "resources": resources(endpoint),
        "securityContext": container_security_context(),
        "readinessProbe": {**tcp_probe, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {
            **tcp_probe,
            "initialDelaySeconds": 30,
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "app.kubernetes.io/managed-by": "mlplat"}},
                "spec": {
                    "serviceAccountName": endpoint.service_account,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(),
                    **placement(pool),
                    "containers": [container],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    scaling = endpoint.autoscaling
    if scaling.metric in ("cpu", "memory"):
        metric: dict[str, Any] = {
            "type": "Resource",
            "resource": {
                "name": scaling.metric,
                "target": {"type": "Utilization", "averageUtilization": scaling.target},
            },
        }
    else:
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": CUSTOM_METRICS[scaling.metric]},
                "target": {"type": "AverageValue", "averageValue": str(scaling.target)},
            },
        }
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": endpoint.name,
            },
            "minReplicas": max(1, endpoint.min_replicas),
            "maxReplicas": endpoint.max_replicas,
            "metrics": [metric],
        },
    }
    manifests: list[Manifest] = [deployment, service, autoscaler]
    if endpoint.min_replicas >= 2:
        manifests.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta,
                "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
            }
        )
    return manifests


def endpoint_manifests(
    endpoint: Endpoint, pool: NodePool, models_bucket: str, transformer_image: str | None = None
) -> list[Manifest]:
    if endpoint.runtime == "custom":
        return custom_server_manifests(endpoint, pool, models_bucket)
    return [inference_service_manifest(endpoint, pool, models_bucket, transformer_image)]


@dataclass(frozen=True)
class ServingEndpointArgs:
    endpoint: Endpoint
    pool: NodePool
    models_bucket: str
    """Physical name of the bucket models are read from."""
    after: Sequence[pulumi.Resource]
    """The team's namespace and service account, and the serving controllers."""
    transformer_image: str | None = None
    """Image of the feature transformer (endpoints with a feature service)."""


class ServingEndpoint(pulumi.ComponentResource):
    """The serving stack of one endpoint."""

    def __init__(
        self, name: str, args: ServingEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(SERVING_ENDPOINT, name, None, opts)
        endpoint = args.endpoint
        if endpoint.runtime == "custom" and endpoint.canary:
            pulumi.log.warn(
                f"endpoint {endpoint.team}/{endpoint.name}: canary traffic splits need a KServe "
                "runtime; the custom server serves version "
                f"{endpoint.version} only",
                resource=self,
            )
        for manifest in endpoint_manifests(
            endpoint, args.pool, args.models_bucket, args.transformer_image
        ):
            register_object(
                manifest, pulumi.ResourceOptions(parent=self, depends_on=list(args.after))
            )
        self.register_outputs({})
