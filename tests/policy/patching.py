"""Patches of a recorded plan (or of a compiled pipeline) described by a baseline case.

A case names a resource by type and name, then any of:
  set:      [[path, value], ...]   path: a dotted string or a list of keys and list indices
  unset:    [path, ...]
  document: {field: F, set: [...], unset: [...]}   the same, inside a JSON policy input F
  options:  {protect: false, ...}                   resource options
  remove:   true                                    the resource is not in the plan
or adds one (`add: {type, name, inputs, spec: {kind, name, team}}`), or patches a compiled
pipeline (`pipeline: {file, doc, set, unset}`, doc 0 is the pipeline spec, 1 the platform
spec). Setting index len(list) appends.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import yaml

from compiler.plan.model import Plan, PlannedResource
from platform_iac.naming import SpecRef


def _keys(path: str | list[Any]) -> list[Any]:
    if isinstance(path, list):
        return path
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _set(data: Any, path: str | list[Any], value: Any) -> None:
    *parents, last = _keys(path)
    for key in parents:
        data = data[key]
    if isinstance(data, list) and last == len(data):
        data.append(value)
    else:
        data[last] = value


def _unset(data: Any, path: str | list[Any]) -> None:
    *parents, last = _keys(path)
    for key in parents:
        data = data[key]
    del data[last]


def _edit(data: Any, spec: dict[str, Any]) -> None:
    for path, value in spec.get("set", []):
        _set(data, path, value)
    for path in spec.get("unset", []):
        _unset(data, path)


def _patched(resource: PlannedResource, case: dict[str, Any]) -> PlannedResource:
    inputs = copy.deepcopy(resource.inputs)
    _edit(inputs, case)
    if "document" in case:
        field = case["document"]["field"]
        document = json.loads(inputs[field])
        _edit(document, case["document"])
        inputs[field] = json.dumps(document, sort_keys=True)
    return dataclasses.replace(resource, inputs=inputs, **case.get("options", {}))


def _added(spec: dict[str, Any]) -> PlannedResource:
    ref = spec["spec"]
    return PlannedResource(
        key=f"test${spec['type']}::{spec['name']}",
        type=spec["type"],
        name=spec["name"],
        kind="resource",
        parent=None,
        provider=None,
        inputs=spec["inputs"],
        dependencies=tuple(spec.get("dependencies", ())),
        protect=False,
        retain_on_delete=False,
        delete_before_replace=False,
        ignore_changes=(),
        spec=SpecRef(ref["kind"], ref["name"], ref.get("team")),
    )


def patch_plan(plan: Plan, case: dict[str, Any]) -> Plan:
    resources = list(plan.resources)
    if "resource" in case:
        wanted = case["resource"]
        matches = [
            i
            for i, r in enumerate(resources)
            if r.type == wanted["type"] and r.name == wanted["name"]
        ]
        assert len(matches) == 1, f"{wanted}: {len(matches)} resources match"
        (index,) = matches
        if case.get("remove"):
            del resources[index]
        else:
            resources[index] = _patched(resources[index], case)
    if "add" in case:
        resources.append(_added(case["add"]))
    return dataclasses.replace(plan, resources=tuple(resources))


def patch_pipelines(
    pipelines: dict[str, str | bytes], case: dict[str, Any]
) -> dict[str, str | bytes]:
    if "pipeline" not in case:
        return pipelines
    spec = case["pipeline"]
    docs = list(yaml.safe_load_all(pipelines[spec["file"]]))
    _edit(docs[spec.get("doc", 0)], spec)
    return {**pipelines, spec["file"]: yaml.safe_dump_all(docs, sort_keys=True)}
