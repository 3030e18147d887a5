"""Link an endpoint's `monitoring:` into the IR: resolve its reference data and check the loop.

What one object cannot see alone: the reference is a Dataset output of a real step (by
default the Dataset the model's training step reads); the retraining pipeline is the one that
produces the served model, owned by the endpoint's team; a retrained version can only serve if
the endpoint follows the latest version; payloads need a logs bucket. The features a model
takes are known once a version is registered (`check_features`, run by `mlplat monitor`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from compiler.config_layout import TEAMS_DIR
from compiler.diagnostics import Diagnostic, Span, did_you_mean, error
from compiler.ir import Endpoint, Model, Monitoring
from compiler.yaml_source import Path_
from schemas.monitoring import FeatureMonitor, MonitoringSpec
from schemas.pipeline import StepOutputRef
from schemas.platform import RootSpec
from schemas.serving import EndpointSpec
from schemas.team import TeamSpec


class _HasPurpose(Protocol):
    @property
    def purpose(self) -> str: ...


class _Reporter(Protocol):
    def err(
        self,
        code: str,
        message: str,
        path: Path_,
        hint: str | None = None,
        *,
        key: bool = False,
        notes: Iterable[str] = (),
    ) -> None: ...


def short_name(name: str, limit: int) -> str:
    """`name`, or its head and a hash when longer than `limit` (Kubernetes and IAM names)."""
    if len(name) <= limit:
        return name
    return f"{name[: limit - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def payload_bucket(buckets: Mapping[str, _HasPurpose]) -> str | None:
    """The bucket that holds payload logs: the logs bucket (named 'logs' first)."""
    logs = sorted(name for name, b in buckets.items() if b.purpose == "logs")
    return "logs" if "logs" in logs else (logs[0] if logs else None)


def _default_reference(model: Model, teams: dict[str, TeamSpec]) -> tuple[str, str, str] | str:
    """The Dataset the model's training step reads, or why there is none."""
    src = model.source
    if src is None:
        return f"model '{model.name}' has no source pipeline to take its training data from"
    pipeline = teams.get(model.team)
    pspec = pipeline.pipelines.get(src.pipeline) if pipeline is not None else None
    step = pspec.steps.get(src.step) if pspec is not None else None
    if pspec is None or step is None:
        return f"the source of model '{model.name}' does not resolve"
    for value in step.inputs.values():
        if isinstance(value, StepOutputRef):
            producer = pspec.steps.get(value.step)
            if producer is not None and producer.outputs.get(value.output) == "Dataset":
                return (src.pipeline, value.step, value.output)
    return f"step '{src.step}' that trains model '{model.name}' reads no Dataset"


def link_monitoring(
    ln: _Reporter,
    team: str,
    name: str,
    spec: EndpointSpec,
    model: Model,
    teams: dict[str, TeamSpec],
    root: RootSpec,
) -> Monitoring | None:
    """The resolved monitoring of endpoint `name`, or None (with diagnostics) when it is wrong."""
    mon: MonitoringSpec | None = spec.monitoring
    if mon is None:
        return None
    base: Path_ = (TEAMS_DIR, team, "endpoints", name, "monitoring")
    what = f"endpoint '{name}'"
    ok = True
    reference: tuple[str, str, str] | None = None
    if mon.reference is None:
        found = _default_reference(model, teams)
        if isinstance(found, str):
            ln.err(
                "E340",
                f"{what} is monitored but has no reference data: {found}",
                base,
                "add monitoring.reference: {pipeline: ..., step: ..., output: ...} "
                "naming a Dataset output",
                key=True,
            )
            ok = False
        else:
            reference = found
    else:
        ref = mon.reference
        ref_pipeline = ref.pipeline or (model.source.pipeline if model.source else None)
        owner = teams.get(model.team)
        pipelines = owner.pipelines if owner is not None else {}
        if ref_pipeline is None or ref_pipeline not in pipelines:
            ln.err(
                "E341",
                f"reference of {what} names pipeline '{ref_pipeline}', which team "
                f"'{model.team}' does not have",
                (*base, "reference", "pipeline" if ref.pipeline else "step"),
                did_you_mean(ref_pipeline or "", pipelines),
            )
            ok = False
        elif (step := pipelines[ref_pipeline].steps.get(ref.step)) is None:
            ln.err(
                "E341",
                f"reference of {what} names step '{ref.step}', which pipeline '{ref_pipeline}' "
                "does not have",
                (*base, "reference", "step"),
                did_you_mean(ref.step, pipelines[ref_pipeline].steps),
            )
            ok = False
        elif (kind := step.outputs.get(ref.output)) != "Dataset":
            ln.err(
                "E341",
                f"reference of {what} names output '{ref.output}' of step '{ref.step}', "
                + (
                    "which it does not have"
                    if kind is None
                    else f"which is a {kind}, not a Dataset"
                ),
                (*base, "reference", "output"),
                did_you_mean(ref.output, step.outputs)
                if kind is None
                else "point at an output declared as 'Dataset'",
            )
            ok = False
        else:
            reference = (ref_pipeline, ref.step, ref.output)
    retrain = mon.retrain
    if retrain is not None:
        rbase: Path_ = (*base, "on_drift", "retrain", "pipeline")
        source = model.source.pipeline if model.source else None
        if model.team != team:
            ln.err(
                "E343",
                f"{what} retrains model '{model.name}' of team '{model.team}', which team "
                f"'{team}' cannot run",
                rbase,
                "use on_drift: alert, or let the model's team monitor its own endpoint",
            )
            ok = False
        elif retrain.pipeline not in teams[team].pipelines:
            ln.err(
                "E343",
                f"{what} retrains with pipeline '{retrain.pipeline}', which team '{team}' "
                "does not have",
                rbase,
                did_you_mean(retrain.pipeline, teams[team].pipelines),
            )
            ok = False
        elif retrain.pipeline != source:
            ln.err(
                "E343",
                f"pipeline '{retrain.pipeline}' does not produce model '{model.name}' served by "
                f"{what}"
                + (f" (it comes from pipeline '{source}')" if source else " (it has no source)"),
                rbase,
                f"retrain with pipeline: {source}"
                if source
                else f"add source: to model '{model.name}'",
            )
            ok = False
        if spec.version != "latest":
            ln.err(
                "E344",
                f"{what} serves version {spec.version} only, so a retrained version would never "
                "serve",
                (TEAMS_DIR, team, "endpoints", name, "version"),
                "serve version: latest, or use on_drift: alert",
            )
            ok = False
    bucket = payload_bucket(root.buckets)
    if bucket is None:
        ln.err(
            "E345",
            f"{what} logs its payloads, but the platform has no bucket with purpose 'logs'",
            base,
            "add a bucket with purpose: logs to platform.yaml",
            key=True,
        )
        ok = False
    if not ok or reference is None or bucket is None:
        return None
    job = short_name(f"drift-{name}", 52)  # CronJob names: 52 characters at most
    return Monitoring(
        features={
            f: FeatureMonitor(method=m.method, threshold=m.resolved_threshold())
            for f, m in mon.features.items()
        },
        reference_pipeline=reference[0],
        reference_step=reference[1],
        reference_output=reference[2],
        window_requests=mon.window.requests,
        window_seconds=mon.window.duration,
        min_requests=mon.min_requests,
        drift_share=mon.drift_share,
        schedule=mon.schedule,
        sample_rate=mon.sample_rate,
        prediction=mon.prediction,
        retrain_pipeline=retrain.pipeline if retrain else None,
        cooldown_seconds=retrain.cooldown if retrain else 0,
        payload_bucket=bucket,
        payload_prefix=f"{team}/payloads/{name}/",
        image=root.platform.defaults.monitor_image,
        drift_job=job,
        drift_service_account=short_name(f"{team}-{job}", 63),
        sink_service_account=f"{team}-payload-sink",
    )


def check_features(
    endpoint: Endpoint,
    features: list[str] | None,
    locate: Callable[[tuple[str | int, ...]], Span],
    version: int,
) -> list[Diagnostic]:
    """E342 for each monitored feature the served model version does not take."""
    mon = endpoint.monitoring
    if mon is None or not features:
        return []
    known = set(features)
    base = (TEAMS_DIR, endpoint.team, "endpoints", endpoint.name, "monitoring", "features")
    return [
        error(
            "E342",
            f"endpoint '{endpoint.name}' monitors feature '{feature}', which version {version} "
            f"of model '{endpoint.model}' does not take",
            locate((*base, feature)),
            did_you_mean(feature, features) or f"the model takes: {', '.join(features)}",
        )
        for feature in mon.features
        if feature not in known
    ]
