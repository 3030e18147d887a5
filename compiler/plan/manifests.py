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
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import yaml

from compiler.cache import BuildCache, digest, versions
from compiler.plan.model import Plan, PlannedResource
from compiler.workers import SHARED, map_unordered

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


def _by_team(objects: Iterable[KubeObject]) -> dict[str, list[KubeObject]]:
    """Objects grouped by the team they were built for ("" for the platform's).

    Caching by group rather than by object: one entry per team is read or written instead
    of one per object (tens of thousands of small files cost more than they save).
    """
    groups: dict[str, list[KubeObject]] = {}
    for obj in objects:
        groups.setdefault(obj.resource.spec.team or "", []).append(obj)
    return groups


def _group_key(stage: str, group: list[KubeObject], *context: Any) -> str:
    return digest(stage, [(obj.path, obj.manifest) for obj in group], *context)


def _dump_group(team: str) -> tuple[str, dict[str, str]]:
    """The YAML texts of one team's objects (in a worker: the groups come from SHARED)."""
    return team, {obj.path: dump_yaml(obj.manifest) for obj in SHARED["manifest_groups"][team]}


def manifest_files(
    objects: Iterable[KubeObject],
    cache: BuildCache | None = None,
    jobs: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> dict[str, str]:
    """Each object as a YAML file; a team's texts are reused from `cache` when unchanged,
    the others are written on `jobs` cores (≈ 0.2 ms per object) while this process runs
    `meanwhile`."""
    objects = list(objects)
    cache = cache or BuildCache(None)
    groups = _by_team(objects)
    files: dict[str, str] = {}
    keys: dict[str, str] = {}
    done: set[str] = set()
    tool = versions("PyYAML")
    for team, group in groups.items():
        if not cache.enabled:
            continue
        keys[team] = cache.recall(
            "manifest-yaml-key",
            tuple(obj.resource for obj in group),
            None,
            partial(_group_key, "manifest-yaml", group, tool),
        )
        cached = cache.load("manifests", keys[team], json.loads)
        if cached is not None:
            files.update(cached)
            done.add(team)
    todo = [team for team in groups if team not in done]
    SHARED["manifest_groups"] = groups
    try:
        objects_todo = sum(len(groups[team]) for team in todo)
        parallel = jobs if objects_todo >= PARALLEL_MIN_OBJECTS else 1
        for team, texts in map_unordered(_dump_group, todo, parallel, meanwhile=meanwhile):
            files.update(texts)
            if team in keys:
                cache.put("manifests", keys[team], json.dumps(texts).encode())
    finally:
        SHARED.pop("manifest_groups", None)
    return {o.path: files[o.path] for o in objects}


def predictor_pod(manifest: dict[str, Any], component: str = "predictor") -> dict[str, Any]:
    """An InferenceService's predictor (or transformer) as the Pod that KServe will run."""
    predictor = dict(manifest.get("spec", {}).get(component, {}))
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
        "metadata": {"name": f"{meta.get('name')}-{component}", "namespace": meta.get("namespace")},
        "spec": spec,
    }


def inference_service_pods(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(component, Pod) for each component KServe runs: the predictor, and the transformer
    when there is one (an endpoint reading online features)."""
    components = ("predictor", "transformer")
    spec = manifest.get("spec") or {}
    return [(c, predictor_pod(manifest, c)) for c in components if c == "predictor" or c in spec]


POD_TEMPLATES = {("serving.kserve.io/v1beta1", "InferenceService"): inference_service_pods}
CHECKED_ON_APPLY = frozenset(
    {
        ("kyverno.io/v1", "ClusterPolicy"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
    }
)
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


@functools.cache
def _validator(kind: str, api_version: str, desired_version: str) -> Any:
    """A compiled validator per kind: `kubernetes_validate.validate`'s lookup, done once.

    kubernetes-validate rebuilds the schema registry (and re-resolves every `$ref` into the
    1.3 MB definitions file) for each object; one validator per kind, reused, gives the
    same verdicts (tests/plan/test_manifests.py compares them) many times faster.
    """
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    wanted = utils.major_minor(desired_version)
    version = [v for v in utils.all_versions() if utils.major_minor(v) <= wanted][-1]
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    try:
        schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", desired_version)
    except FileNotFoundError:
        return None
    definitions = utils.schema_contents(f"{folder}/_definitions.json", desired_version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validation_problems(
    manifest: dict[str, Any], kubernetes_version: str
) -> list[tuple[str, str]] | None:
    """(where, message) of the schema violation kubernetes-validate reports ([] when valid);
    None when no schema exists for the object's kind."""
    validator = _validator(
        str(manifest.get("kind")), str(manifest.get("apiVersion")), kubernetes_version
    )
    if validator is None:
        return None
    error = next(iter(validator.iter_errors(manifest)), None)  # what `validate` raises
    if error is None:
        return []
    return [(".".join(str(p) for p in error.absolute_path), error.message)]


PARALLEL_MIN_OBJECTS = 256
"""Below this many unchecked objects, forking workers costs more than it saves."""


def _problems_in_worker(index: int) -> tuple[int, list[tuple[str, str]] | None]:
    manifest, kubernetes_version = SHARED["k8s_validate"][index]
    return index, validation_problems(manifest, kubernetes_version)


def _verdicts_key(
    checks: list[tuple[str, dict[str, Any], str]],
    members: list[int],
    kubernetes_version: str,
    tool: dict[str, str],
) -> str:
    return digest("k8s-validate", [checks[i][:2] for i in members], kubernetes_version, tool)


def validate_objects(
    objects: Iterable[KubeObject],
    kubernetes_version: str,
    cache: BuildCache | None = None,
    jobs: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> ValidationReport:
    """Strict schema validation of every object; verdicts are computed on `jobs` cores (while
    this process runs `meanwhile`) and cached by the content of each team's objects."""
    report = ValidationReport(kubernetes_version)
    try:
        import kubernetes_validate  # noqa: F401  - the schemas ship with it
    except ImportError:
        report.skipped = "kubernetes-validate is not installed (pip install kubernetes-validate)"
        if meanwhile is not None:
            meanwhile()
        return report
    tool = versions("kubernetes-validate", "jsonschema")
    cache = cache or BuildCache(None)

    # what to validate: (path, the manifest or the pod template standing for it, counted as),
    # and which checks belong to which team: verdicts are cached per team
    checks: list[tuple[str, dict[str, Any], str]] = []
    groups: dict[str, list[int]] = {}
    sources: list[PlannedResource] = []  # the resource behind each check
    for obj in objects:
        version_kind = (str(obj.manifest.get("apiVersion")), str(obj.manifest.get("kind")))
        if version_kind in CHECKED_ON_APPLY:
            report.checked_on_apply += 1
            continue
        template = POD_TEMPLATES.get(version_kind)
        if template is not None:
            for component, pod in template(obj.manifest):
                groups.setdefault(obj.resource.spec.team or "", []).append(len(checks))
                sources.append(obj.resource)
                path = obj.path if component == "predictor" else f"{obj.path} ({component})"
                checks.append((path, pod, "template"))
        else:
            groups.setdefault(obj.resource.spec.team or "", []).append(len(checks))
            sources.append(obj.resource)
            api_version, kind = version_kind
            checks.append((obj.path, obj.manifest, f"no schema for {kind} ({api_version})"))

    keys = {
        team: cache.recall(
            "k8s-validate-key",
            tuple(sources[i] for i in members),
            kubernetes_version,
            partial(_verdicts_key, checks, members, kubernetes_version, tool),
        )
        for team, members in groups.items()
        if cache.enabled
    }
    verdicts: dict[int, list[tuple[str, str]] | None] = {}
    for team, key in keys.items():
        cached = cache.load("k8s-validate", key, json.loads)
        if cached is not None:
            verdicts.update(zip(groups[team], cached, strict=True))
    todo = [index for index in range(len(checks)) if index not in verdicts]
    SHARED["k8s_validate"] = [(manifest, kubernetes_version) for _, manifest, _ in checks]
    try:
        for index, found in map_unordered(
            _problems_in_worker, todo, jobs, min_batch=PARALLEL_MIN_OBJECTS, meanwhile=meanwhile
        ):
            verdicts[index] = found
    finally:
        SHARED.pop("k8s_validate", None)
    computed = set(todo)
    for team, key in keys.items():
        if not computed.isdisjoint(groups[team]):
            found_all = [verdicts[index] for index in groups[team]]
            cache.put("k8s-validate", key, json.dumps(found_all).encode())

    for index, (path, _, counted) in enumerate(checks):
        found = verdicts[index]
        if counted == "template":
            report.pod_templates += 1
        elif found is not None:
            report.objects += 1
        else:
            report.problems.append(ManifestProblem(path, "", f"{counted} and no pod template rule"))
        report.problems.extend(
            ManifestProblem(path, where, message) for where, message in found or ()
        )
    return report
