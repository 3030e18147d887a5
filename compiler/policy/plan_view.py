"""Read-only lookups over a recorded plan for the security baseline.

The baseline reads what the program registered (types, inputs, dependencies, options), never
the YAML: a resource is tied back to the spec object it was built for by its `SpecRef`, and
configuration resources to what they configure by their dependencies or the names the
program passes (a bucket's name, a role's name), exactly as the cloud would resolve them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from compiler.cache import BuildCache
from compiler.ir import PlatformIR
from compiler.plan.model import Plan, PlannedResource
from compiler.yaml_source import Path_
from platform_iac.naming import SpecRef, team_group

BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
KMS_KEY = "aws:kms/key:Key"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

_PLATFORM_PATHS: dict[str, Path_] = {
    "cluster": ("platform", "cluster"),
    "storage": ("buckets",),
}
PLATFORM_PATH: Path_ = ("platform", "organisation")
"""What the platform builds without a spec object of its own (services, providers) is
shown at the organisation, the one key only platform.yaml sets."""


def team_path(team: str) -> Path_:
    """A team is shown at its owners: a required key of its main file (a team folder's
    files are merged, so the team itself has no single position)."""
    return ("teams", team, "owners")


def spec_path(ref: SpecRef) -> Path_:
    """Where the spec object of `ref` is written in the composed configs."""
    if ref.kind == "bucket":
        return ("buckets", ref.name)
    if ref.kind == "node_pool":
        return ("node_pools", ref.name)
    if ref.kind == "team":
        return team_path(ref.name)
    if ref.kind == "endpoint":
        return ("teams", ref.team or "", "endpoints", ref.name)
    return _PLATFORM_PATHS.get(ref.name, PLATFORM_PATH)


def subject(ref: SpecRef) -> str:
    """The spec object in the user's words."""
    if ref.kind == "endpoint":
        return f"endpoint '{ref.team}/{ref.name}'"
    if ref.kind == "platform":
        return {
            "cluster": "the cluster",
            "storage": "the platform storage",
            "services": "the platform services",
        }.get(ref.name, "the platform")
    return f"{ref.kind.replace('_', ' ')} '{ref.name}'"


def describe(resource: PlannedResource) -> str:
    return f"{resource.type} {resource.name}"


def policy_statements(document: Any) -> list[dict[str, Any]] | None:
    """The statements of an IAM or bucket policy (a JSON string or a dict); None if unreadable."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return None
    if not isinstance(document, dict):
        return None
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        return None
    return statements


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def dig(data: Any, *keys: str | int) -> Any:
    """`data[k1][k2]...`, or None where anything along the way is missing."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(data, list) or not -len(data) <= key < len(data):
                return None
            data = data[key]
        elif isinstance(data, Mapping):
            data = data.get(key)
        else:
            return None
    return data


@dataclass(frozen=True)
class KubeObject:
    """A Kubernetes object of the plan with the fields every check reads, read once (the
    checks of a large plan ask for them hundreds of thousands of times)."""

    resource: PlannedResource
    manifest: dict[str, Any]
    kind: str
    api_version: str
    name: str
    namespace: str | None
    _labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, resource: PlannedResource) -> KubeObject:
        manifest = resource.inputs
        namespace = dig(manifest, "metadata", "namespace")
        labels = dig(manifest, "metadata", "labels")
        return cls(
            resource=resource,
            manifest=manifest,
            kind=str(manifest.get("kind", "")),
            api_version=str(manifest.get("apiVersion", "")),
            name=str(dig(manifest, "metadata", "name") or ""),
            namespace=str(namespace) if namespace else None,
            _labels=tuple(labels.items()) if isinstance(labels, Mapping) else (),
        )

    @property
    def labels(self) -> dict[str, str]:
        return dict(self._labels)

    def title(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} '{where}{self.name}'"


class PlanView:
    """A plan with the lookups the checks need, built once per check run."""

    def __init__(self, plan: Plan, ir: PlatformIR, memo: BuildCache | None = None) -> None:
        self.plan = plan
        self.ir = ir
        self.memo = memo or BuildCache(None)
        self.by_key = plan.by_key()
        self._by_type: dict[str, list[PlannedResource]] = defaultdict(list)
        for resource in plan.resources:
            if resource.kind != "component":
                self._by_type[resource.type].append(resource)

    def of_type(self, resource_type: str) -> list[PlannedResource]:
        return list(self._by_type.get(resource_type, ()))

    def dependencies(self, resource: PlannedResource, resource_type: str) -> list[PlannedResource]:
        found = (self.by_key.get(key) for key in resource.dependencies)
        return [r for r in found if r is not None and r.type == resource_type]

    def configuring(self, resource_type: str, bucket: PlannedResource) -> list[PlannedResource]:
        """Configuration resources of `resource_type` that name this bucket."""
        name = bucket.inputs.get("bucket")
        return [r for r in self.of_type(resource_type) if r.inputs.get("bucket") == name]

    @cached_property
    def kube_objects(self) -> list[KubeObject]:
        recall = self.memo.recall
        return [
            recall("kube-object", r, None, partial(KubeObject.of, r))
            for r in self.plan.resources
            if r.is_kubernetes_object and not r.type.endswith("Patch")
        ]

    @cached_property
    def _kube_index(self) -> dict[tuple[str, str | None], list[KubeObject]]:
        """Objects by (kind, None) and by (kind, namespace): lookups stay linear in the plan."""
        index: dict[tuple[str, str | None], list[KubeObject]] = defaultdict(list)
        for obj in self.kube_objects:
            index[(obj.kind, None)].append(obj)
            if obj.namespace is not None:
                index[(obj.kind, obj.namespace)].append(obj)
        return index

    def kube(self, kind: str, namespace: str | None = None) -> Iterator[KubeObject]:
        yield from self._kube_index.get((kind, namespace), ())

    @cached_property
    def _by_name(self) -> dict[tuple[str, str], list[KubeObject]]:
        index: dict[tuple[str, str], list[KubeObject]] = defaultdict(list)
        for obj in self.kube_objects:
            index[(obj.kind, obj.name)].append(obj)
        return index

    def named(self, kind: str, name: str) -> list[KubeObject]:
        """Objects of `kind` called `name`, in any namespace (an index: checks run per team)."""
        return list(self._by_name.get((kind, name), ()))

    @cached_property
    def namespaces(self) -> dict[str, KubeObject]:
        """Namespace objects by name."""
        return {obj.name: obj for obj in self.kube("Namespace")}

    @cached_property
    def roles_by_name(self) -> dict[str, PlannedResource]:
        return {str(r.inputs.get("name") or r.name): r for r in self.of_type(ROLE)}

    @cached_property
    def team_groups(self) -> dict[str, str]:
        """Kubernetes group of a team's people → team."""
        return {team_group(team): team for team in self.ir.teams}

    @cached_property
    def team_namespaces(self) -> dict[str, str]:
        """namespace → team."""
        return {team.namespace: name for name, team in self.ir.teams.items()}

    def helm_charts(self) -> set[str]:
        """Chart names installed by Helm releases (`oci://.../kyverno` counts as kyverno)."""
        return {
            str(r.inputs.get("chart", "")).rsplit("/", 1)[-1] for r in self.of_type(HELM_RELEASE)
        }
