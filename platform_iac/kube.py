"""Register Kubernetes objects given as plain manifests (the dicts a YAML file would hold).

Each building block writes its objects as pure functions of the IR that return manifests;
this module turns a manifest into the matching typed pulumi-kubernetes resource, so the
plan records exactly the object the cluster will receive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from platform_iac.naming import MANAGED_BY

Manifest = dict[str, Any]

_MODULES: dict[str, Any] = {
    "v1": k8s.core.v1,
    "apps/v1": k8s.apps.v1,
    "autoscaling/v2": k8s.autoscaling.v2,
    "batch/v1": k8s.batch.v1,
    "networking.k8s.io/v1": k8s.networking.v1,
    "policy/v1": k8s.policy.v1,
    "rbac.authorization.k8s.io/v1": k8s.rbac.v1,
}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def logical_name(manifest: Mapping[str, Any]) -> str:
    """`<namespace>/<name>` (or `<name>` for cluster objects): unique per kind, like the API."""
    meta = manifest["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def register_object(
    manifest: Manifest, opts: pulumi.ResourceOptions | None = None
) -> pulumi.CustomResource:
    """Create the typed resource for a built-in kind, a CustomResource for anything else."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    name = logical_name(manifest)
    module = _MODULES.get(api_version)
    cls = getattr(module, kind, None) if module is not None else None
    if cls is None:
        fields = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
        return k8s.apiextensions.CustomResource(
            name, api_version=api_version, kind=kind, opts=opts, **fields
        )
    kwargs = {_snake(k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    resource: pulumi.CustomResource = cls(name, opts=opts, **kwargs)
    return resource


def object_meta(
    name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(sorted({**MANAGED_BY, **(labels or {})}.items()))
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return meta
