"""The recorded plan: every resource the program registers, in a stable, diffable form."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from compiler.canonical import canonical_json_with
from platform_iac.naming import SpecRef

if TYPE_CHECKING:
    from compiler.cache import BuildCache
    from compiler.ir import PlatformIR

PLAN_SCHEMA_VERSION = 1
ResourceKind = Literal["resource", "component", "remote"]
"""A provider-managed resource, a grouping component, or a component run by a provider
(Helm-free manifests and kustomizations expanded at deploy time)."""


@dataclass(frozen=True)
class PlannedResource:
    key: str
    """Stable identity: the URN without stack and project (`<type chain>::<name>`)."""
    type: str
    name: str
    kind: ResourceKind
    parent: str | None
    provider: str | None
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: tuple[str, ...]
    spec: SpecRef

    @property
    def is_kubernetes_object(self) -> bool:
        return (
            self.kind == "resource"
            and self.type.startswith("kubernetes:")
            and "apiVersion" in self.inputs
            and "kind" in self.inputs
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": self.type,
            "name": self.name,
            "kind": self.kind,
            "parent": self.parent,
            "provider": self.provider,
            "inputs": self.inputs,
            "dependencies": list(self.dependencies),
            "protect": self.protect,
            "retain_on_delete": self.retain_on_delete,
            "delete_before_replace": self.delete_before_replace,
            "ignore_changes": list(self.ignore_changes),
            "spec": {"kind": self.spec.kind, "name": self.spec.name, "team": self.spec.team},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlannedResource:
        spec = data["spec"]
        return cls(
            key=data["key"],
            type=data["type"],
            name=data["name"],
            kind=data["kind"],
            parent=data["parent"],
            provider=data["provider"],
            inputs=data["inputs"],
            dependencies=tuple(data["dependencies"]),
            protect=data["protect"],
            retain_on_delete=data["retain_on_delete"],
            delete_before_replace=data["delete_before_replace"],
            ignore_changes=tuple(data["ignore_changes"]),
            spec=SpecRef(spec["kind"], spec["name"], spec["team"]),
        )


@dataclass(frozen=True)
class Plan:
    environment: str
    target: str
    project: str
    stack: str
    kubernetes_version: str
    resources: tuple[PlannedResource, ...] = field(default=())

    @classmethod
    def of(cls, ir: PlatformIR, resources: Iterable[PlannedResource]) -> Plan:
        """The plan of `ir`'s environment: resources sorted by key, each registered once."""
        ordered = sorted(resources, key=lambda r: r.key)
        twice = sorted(
            {after.key for before, after in itertools.pairwise(ordered) if before.key == after.key}
        )
        if twice:
            raise ValueError(f"the program registers these resources twice: {twice[:5]}")
        return cls(
            environment=ir.environment,
            target=ir.target,
            project=ir.platform.pulumi.project,
            stack=ir.platform.pulumi.stack,
            kubernetes_version=ir.platform.kubernetes_version,
            resources=tuple(ordered),
        )

    def __iter__(self) -> Iterator[PlannedResource]:
        return iter(self.resources)

    def by_key(self) -> dict[str, PlannedResource]:
        return {r.key: r for r in self.resources}

    def managed(self) -> list[PlannedResource]:
        """What a deploy creates, updates or deletes (components only group them)."""
        return [r for r in self.resources if r.kind != "component"]

    def to_json(self, memo: BuildCache | None = None) -> str:
        """plan.json. `memo`: a resident process's cache, which keeps the rendered JSON of
        unchanged resources."""
        by_type: dict[str, int] = {}
        for resource in self.managed():
            by_type[resource.type] = by_type.get(resource.type, 0) + 1
        data: dict[str, Any] = {
            "schema_version": PLAN_SCHEMA_VERSION,
            "environment": self.environment,
            "target": self.target,
            "project": self.project,
            "stack": self.stack,
            "kubernetes_version": self.kubernetes_version,
            "summary": {"resources": len(self.managed()), "by_type": by_type},
        }
        return canonical_json_with(data, "resources", self.resources, PlannedResource.to_json, memo)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        if data.get("schema_version") != PLAN_SCHEMA_VERSION:
            raise ValueError(
                f"plan schema version {data.get('schema_version')} is not "
                f"{PLAN_SCHEMA_VERSION}: re-plan the baseline with this version of mlplat"
            )
        return cls(
            environment=data["environment"],
            target=data["target"],
            project=data["project"],
            stack=data["stack"],
            kubernetes_version=data["kubernetes_version"],
            resources=tuple(PlannedResource.from_json(r) for r in data["resources"]),
        )
