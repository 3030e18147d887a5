"""S601-S605 on the pods of training jobs: each distributed step's TrainJob and each sweep's
Katib trial, as compiled next to the pipeline (compiler/kfp_backend/trainjob.py, katib.py).

These pods are created at run time by the pipeline's launcher task, so they are in no plan:
the baseline reads the compiled manifests. A TrainJob's pod is the operator runtime's
template with the job's RuntimePatch applied: the patch's pod spec (identity, placement,
security contexts) and the trainer's image and per-node resources in the container the
runtime starts. A trial that is a batch Job is checked as its pod template.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from compiler.policy.findings import Violation
from compiler.policy.plan_view import PlanView, dig
from compiler.policy.pods import PodTemplate, _template


def trainjob_pod(job: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec a TrainJob's nodes run with: runtime container + the job's patch."""
    spec = job.get("spec") or {}
    trainer = spec.get("trainer") or {}
    pod: dict[str, Any] = {}
    for patch in spec.get("runtimePatches") or []:
        for replicated in (
            dig(patch, "trainingRuntimeSpec", "template", "spec", "replicatedJobs") or []
        ):
            found = dig(replicated, "template", "spec", "template", "spec")
            if isinstance(found, dict):
                pod = {**pod, **found}
    containers = []
    for container in pod.get("containers") or [{}]:
        containers.append(
            {
                **container,
                "image": trainer.get("image"),
                "resources": trainer.get("resourcesPerNode") or {},
            }
        )
    return {**pod, "containers": containers}


def training_pods(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    kind = manifest.get("kind")
    if kind == "TrainJob":
        return [trainjob_pod(manifest)]
    if kind == "Experiment":
        trial = dig(manifest, "spec", "trialTemplate", "trialSpec") or {}
        if trial.get("kind") == "TrainJob":
            return [trainjob_pod(trial)]
        found = dig(trial, "spec", "template", "spec")
        return [found if isinstance(found, dict) else {}]
    return []


def check(view: PlanView, pipelines: Mapping[str, str | bytes] | None) -> Iterator[Violation]:
    if pipelines is None or view.ir.target == "local":
        return  # the local target runs torchrun and Optuna on this machine: no such pods
    for pipeline in view.ir.pipelines():
        prefix = f"pipelines/{pipeline.team}/{pipeline.name}."
        base = ("teams", pipeline.team, "pipelines", pipeline.name)
        for step in pipeline.order:
            if pipeline.steps[step].distributed is None:
                continue
            relpath = f"{prefix}{step}.trainjob.yaml"
            who = f"step '{step}' of pipeline '{pipeline.team}/{pipeline.name}'"
            yield from _check_file(pipelines, relpath, who, (*base, "steps", step), "TrainJob")
        if pipeline.tuning is not None:
            who = f"sweep of pipeline '{pipeline.team}/{pipeline.name}'"
            relpath = f"{prefix}experiment.yaml"
            yield from _check_file(pipelines, relpath, who, (*base, "tuning"), "Experiment")


def _check_file(
    pipelines: Mapping[str, str | bytes], relpath: str, who: str, path: tuple[str, ...], kind: str
) -> Iterator[Violation]:
    text = pipelines.get(relpath)
    if text is None:
        yield Violation(
            "S605", who, f"has no compiled {kind} ({relpath}) whose pods could be checked", path
        )
        return
    manifest = yaml.safe_load(text)
    for spec in training_pods(manifest):
        yield from _template(PodTemplate(f"{kind} {relpath}", who, path, relpath, spec, False))
