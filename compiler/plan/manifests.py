"""Every Kubernetes object of the plan as a YAML file, and their schema check.

Objects are taken from the recorded inputs (what the cluster will receive), one file each:
`manifests/<namespace or _cluster>.<kind>.<name>.yaml` (`.patch.yaml` for patches of objects
that an upstream manifest owns). Each is validated with kubernetes-validate in strict mode
against the spec's Kubernetes version, offline. Custom resources have no schema there: the
pod template inside them (an InferenceService's predictor) is validated as a core/v1 PodSpec;
policies of a controller the platform installs (Kyverno) are validated by that controller's
CRD schema when applied, and by the security baseline (compiler/policy/) here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

from compiler.plan.model import Plan, PlannedResource

try:  # libyaml's dumper when present: same output, faster
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]

CLUSTER_SCOPE = "_cluster"
KSERVE_COMPONENT_FIELDS = frozenset(
    {
        "annotations",
        "autoScaling",
        "batcher",
        "canaryTrafficPercent",
        "containerConcurrency",
        "deploymentStrategy",
        "labels",
        "logger",
        "maxReplicas",
        "minReplicas",
        "model",
        "scaleMetric",
        "scaleTarget",
        "timeout",
        "workerSpec",
    }
)
KSERVE_MODEL_FIELDS = frozenset({"modelFormat", "protocolVersion", "runtime", "storageUri"})


@dataclass(frozen=True)
class KubeObject:
    path: str
    """Path below build/<env>/, e.g. manifests/team-fraud.networkpolicy.default-deny.yaml."""
    manifest: dict[str, Any]
    resource: PlannedResource
    patch: bool


def kubernetes_objects(plan: Plan) -> list[KubeObject]:
    objects = []
    for resource in plan.resources:
        if not resource.is_kubernetes_object:
            continue
        manifest = dict(resource.inputs)
        meta = manifest.get("metadata") or {}
        patch = resource.type.endswith("Patch")
        scope = meta.get("namespace") or CLUSTER_SCOPE
        suffix = ".patch.yaml" if patch else ".yaml"
        path = f"manifests/{scope}.{str(manifest['kind']).lower()}.{meta.get('name')}{suffix}"
        objects.append(KubeObject(path, manifest, resource, patch))
    return sorted(objects, key=lambda o: o.path)


def dump_yaml(manifest: dict[str, Any]) -> str:
    return yaml.dump(
        manifest, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True
    )


def manifest_files(objects: Iterable[KubeObject]) -> dict[str, str]:
    return {o.path: dump_yaml(o.manifest) for o in objects}


def predictor_pod(manifest: dict[str, Any]) -> dict[str, Any]:
    """An InferenceService's predictor as the Pod that KServe will run for it."""
    predictor = dict(manifest.get("spec", {}).get("predictor", {}))
    spec = {k: v for k, v in predictor.items() if k not in KSERVE_COMPONENT_FIELDS}
    containers = list(spec.pop("containers", []))
    model = predictor.get("model")
    if model is not None:
        container = {k: v for k, v in model.items() if k not in KSERVE_MODEL_FIELDS}
        containers.insert(0, {"name": "kserve-container", **container})
    spec["containers"] = containers
    meta = manifest.get("metadata", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{meta.get('name')}-predictor", "namespace": meta.get("namespace")},
        "spec": spec,
    }


POD_TEMPLATES = {("serving.kserve.io/v1beta1", "InferenceService"): predictor_pod}
CHECKED_ON_APPLY = frozenset({("kyverno.io/v1", "ClusterPolicy")})
"""Custom resources without a schema here and without a pod template (see module doc)."""


@dataclass(frozen=True)
class ManifestProblem:
    path: str
    where: str
    message: str

    def render(self) -> str:
        return f"{self.path}: {self.where or '(root)'}: {self.message}"


@dataclass
class ValidationReport:
    kubernetes_version: str
    objects: int = 0
    pod_templates: int = 0
    checked_on_apply: int = 0
    problems: list[ManifestProblem] = field(default_factory=list)
    skipped: str | None = None
    """Why nothing was checked (kubernetes-validate not installed)."""

    def summary(self) -> str:
        if self.skipped:
            return f"Kubernetes manifests were not validated: {self.skipped}."
        objects = f"{self.objects} Kubernetes object{'s' * (self.objects != 1)}"
        templates = f"{self.pod_templates} pod template{'s' * (self.pod_templates != 1)}"
        checked = (
            f"{objects} and {templates} of custom resources checked against the Kubernetes "
            f"{self.kubernetes_version} schemas (kubernetes-validate, strict)"
        )
        if self.checked_on_apply:
            checked += (
                f"; {self.checked_on_apply} controller "
                f"polic{'ies' if self.checked_on_apply != 1 else 'y'} left to its CRD schema"
            )
        if not self.problems:
            return f"{checked}: all pass."
        return f"{checked}: {len(self.problems)} problem(s)."


@contextmanager
def _schemas_read_once() -> Iterator[None]:
    """kubernetes-validate re-reads its 1.3 MB definitions file for every object (~20 ms);
    caching the reads for the duration of one check makes it ~10x faster."""
    import kubernetes_validate.utils as kv_utils

    original = kv_utils.schema_contents
    kv_utils.schema_contents = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        kv_utils.schema_contents = original


def validate_objects(objects: Iterable[KubeObject], kubernetes_version: str) -> ValidationReport:
    report = ValidationReport(kubernetes_version)
    try:
        import kubernetes_validate
    except ImportError:
        report.skipped = "kubernetes-validate is not installed (pip install kubernetes-validate)"
        return report
    with _schemas_read_once():
        _validate(objects, report, kubernetes_validate)
    return report


def _validate(objects: Iterable[KubeObject], report: ValidationReport, kv: Any) -> None:
    kubernetes_version = report.kubernetes_version
    kubernetes_validate = kv

    def check(path: str, manifest: dict[str, Any]) -> None:
        try:
            kubernetes_validate.validate(manifest, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path)
            report.problems.append(ManifestProblem(path, where, exc.message))

    for obj in objects:
        key = (obj.manifest.get("apiVersion"), obj.manifest.get("kind"))
        if (str(key[0]), str(key[1])) in CHECKED_ON_APPLY:
            report.checked_on_apply += 1
            continue
        template = POD_TEMPLATES.get((str(key[0]), str(key[1])))
        if template is not None:
            report.pod_templates += 1
            check(obj.path, template(obj.manifest))
            continue
        try:
            report.objects += 1
            check(obj.path, obj.manifest)
        except kubernetes_validate.SchemaNotFoundError:
            report.objects -= 1
            report.problems.append(
                ManifestProblem(
                    obj.path, "", f"no schema for {key[1]} ({key[0]}) and no pod template rule"
                )
            )
