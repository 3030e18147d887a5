"""Read a compiled pipeline back with kfp's own loader, in shapes tests can compare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from kfp import components
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb


@dataclass
class LoadedPipeline:
    spec: Any
    """The PipelineSpec proto."""
    tasks: dict[str, Any]
    """Task name → PipelineTaskSpec proto."""
    containers: dict[str, dict[str, Any]]
    """Task name → its executor's container (dict)."""
    kubernetes: dict[str, Any]
    """Task name → KubernetesExecutorConfig proto (empty when none)."""
    outputs: dict[str, set[str]]
    """Task name → the names of its component's outputs (parameters and artifacts)."""


def load(text: str) -> LoadedPipeline:
    component = components.load_component_from_text(text)
    spec = component.pipeline_spec
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    platform = json_format.MessageToDict(component.platform_spec)
    k8s_executors = (
        platform.get("platforms", {})
        .get("kubernetes", {})
        .get("deploymentSpec", {})
        .get("executors", {})
    )
    tasks = dict(spec.root.dag.tasks)
    containers: dict[str, dict[str, Any]] = {}
    kubernetes: dict[str, Any] = {}
    outputs: dict[str, set[str]] = {}
    for name, task in tasks.items():
        comp = spec.components[task.component_ref.name]
        label = comp.executor_label
        containers[name] = executors[label]["container"]
        kubernetes[name] = json_format.ParseDict(
            k8s_executors.get(label, {}), k8s_pb.KubernetesExecutorConfig()
        )
        outputs[name] = set(comp.output_definitions.parameters) | set(
            comp.output_definitions.artifacts
        )
    return LoadedPipeline(spec, tasks, containers, kubernetes, outputs)
