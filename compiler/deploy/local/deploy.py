"""`mlplat deploy` for the local target: make this machine match the IR, doing only what changed.

Order of work: pipelines (run those whose spec or code changed), models (register each
successful run's model in the registry), endpoints (start or restart those whose spec or
served version changed, or that are not running). The state file is saved after every
action, so an interrupted deploy leaves a state that the next one continues from.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from compiler.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, Console
from compiler.deploy.local import payload_log, processes, serving
from compiler.deploy.local.features import FeatureDeploy, entity_request
from compiler.deploy.local.hashing import endpoint_hash, model_hash, pipeline_hash
from compiler.deploy.local.layout import StateLayout, default_state_dir, unsafe_state_dir
from compiler.deploy.local.monitor_state import serving_version
from compiler.deploy.local.pipelines import (
    RunInterrupted,
    StepEvents,
    docker_problem,
    placement_note,
    plan_run,
    run_pipeline,
    step_log_tail,
)
from compiler.deploy.local.ports import NoFreePort, allocate_ports
from compiler.deploy.local.registry import Registry, RegistryError, git_commit
from compiler.deploy.local.report import (
    Reporter,
    endpoint_lines,
    metrics_summary,
    shown_number,
)
from compiler.deploy.local.state import (
    EndpointRecord,
    LocalState,
    ModelRecord,
    ModelVersionRecord,
    PipelineRecord,
    RunRecord,
    StateError,
    load_state,
    now,
    save_state,
    state_lock,
)
from compiler.diagnostics import Span, error, warning
from compiler.frontend import FrontendResult
from compiler.ir import Endpoint, Model, Pipeline, PlatformIR


def deploy_local(
    result: FrontendResult,
    *,
    build_dir: Path,
    state_dir: Path | None,
    console: Console,
) -> int:
    """Deploy the IR of `result` to this machine; the exit code of `mlplat deploy`."""
    ir = result.ir
    assert ir is not None
    folder = state_dir or default_state_dir(ir.environment)
    problem = unsafe_state_dir(folder)
    if problem:
        console.err.write(f"mlplat: error: refusing state folder: {problem}\n")
        return EXIT_USAGE
    layout = StateLayout.at(folder, ir)
    reporter = Reporter(console, result.sources)
    previous = _terminate_as_interrupt()
    try:
        layout.create(ir)
        with state_lock(layout.lock_file):
            state = load_state(layout.state_file) or LocalState(environment=ir.environment)
            if state.environment != ir.environment:
                raise StateError(
                    f"{folder} holds environment '{state.environment}', not '{ir.environment}'",
                    hint="use another --state-dir for each environment",
                )
            session = LocalDeploy(
                ir, layout, state, reporter, build_dir / ir.environment / "ir.json"
            )
            return session.run(build_dir)
    except StateError as exc:
        reporter.problem(error("L106", str(exc), Span(str(folder)), exc.hint))
        return EXIT_INVALID
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


_MISSING_PACKAGE = re.compile(r"No matching distribution found for ([A-Za-z0-9_.\-]+)")


def _terminate_as_interrupt() -> Any:
    """Treat SIGTERM like Ctrl-C while deploying, so `kill` also leaves a consistent state."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


class LocalDeploy:
    def __init__(
        self,
        ir: PlatformIR,
        layout: StateLayout,
        state: LocalState,
        reporter: Reporter,
        ir_file: Path,
    ) -> None:
        self.ir = ir
        self.layout = layout
        self.state = state
        self.out = reporter
        self.ir_file = ir_file
        self.spec_hash = ir.spec_hash()
        self.changes: list[str] = []
        self._registry: Registry | None = None
        self.docker: Callable[[], str | None] = cache(docker_problem)
        self.features: FeatureDeploy | None = None
        self.commit: Callable[[], str] = cache(git_commit)

    # -- bookkeeping ------------------------------------------------------------------------

    def save(self) -> None:
        save_state(self.layout.state_file, self.state)

    def registry(self) -> Registry:
        if self._registry is None:
            self.out.progress("opening the model registry ...")
            self._registry = Registry(self.layout)
        return self._registry

    def run(self, build_dir: Path = Path("build")) -> int:
        started = time.monotonic()
        try:
            with FeatureDeploy(self, build_dir) as self.features:
                self.features.deploy_store()
                self.deploy_pipelines()
                self.features.materialize_published()
            self.deploy_models()
            self.deploy_endpoints()
        finally:
            self.save()
        if self.changes or self.state.spec_hash != self.spec_hash:
            self.state.spec_hash = self.spec_hash
            self.state.deployed_at = now()
            self.save()
        return self.finish(time.monotonic() - started)

    def finish(self, seconds: float) -> int:
        console = self.out.console
        state = self.state
        pipelines = list(state.pipelines.values())
        endpoints = list(state.endpoints.values())
        counts = (
            f"pipelines: {sum(p.status == 'succeeded' for p in pipelines)} succeeded, "
            f"{sum(p.status == 'skipped' for p in pipelines)} skipped, "
            f"{sum(p.status in ('failed', 'interrupted') for p in pipelines)} failed; "
            f"endpoints: {sum(e.status == 'serving' for e in endpoints)} serving, "
            f"{sum(e.status == 'skipped' for e in endpoints)} skipped, "
            f"{sum(e.status == 'failed' for e in endpoints)} failed"
        )
        if console.fmt == "json":
            console.diagnostics(self.out.diagnostics)
        errors = self.out.errors
        where = f"{self.ir.environment} ({_shown(self.layout.root)})"
        if errors:
            console.result(
                f"failed: deploy of {where} finished with {errors} "
                f"error{'s' * (errors != 1)} in {seconds:.1f}s ({counts})"
            )
        elif not self.changes:
            console.result(f"ok: no changes; {where} is up to date ({counts})")
        else:
            console.result(
                f"ok: deployed {where} in {seconds:.1f}s: {len(self.changes)} "
                f"change{'s' * (len(self.changes) != 1)} ({counts})"
            )
        for line in endpoint_lines(state):
            console.result(line)
        return EXIT_INVALID if errors else EXIT_OK

    # -- pipelines --------------------------------------------------------------------------

    def deploy_pipelines(self) -> None:
        wanted = {f"{p.team}/{p.name}" for p in self.ir.pipelines()}
        for key in sorted(set(self.state.pipelines) - wanted):
            del self.state.pipelines[key]
            self.out.step(f"pipeline {key}: removed from the spec (its runs stay in the buckets)")
            self.changes.append(f"forgot pipeline {key}")
        for pipeline in self.ir.pipelines():
            self.deploy_pipeline(pipeline)

    def deploy_pipeline(self, pipeline: Pipeline, force: str | None = None) -> None:
        """Run `pipeline` if its spec or code changed (or always, `force` saying why)."""
        key = f"{pipeline.team}/{pipeline.name}"
        digest = pipeline_hash(pipeline)
        rec = self.state.pipelines.get(key)
        plan = plan_run(pipeline, self.docker)
        last_success = rec.last_success if rec else None
        if plan.runner is None:
            said = rec is not None and rec.status == "skipped" and rec.reason == plan.reason
            if not said or (rec is not None and rec.hash != digest):
                self.out.step(f"pipeline {key}: skipped: {plan.reason}")
            self.state.pipelines[key] = PipelineRecord(
                team=pipeline.team,
                name=pipeline.name,
                status="skipped",
                hash=digest,
                reason=plan.reason,
                last_run=rec.last_run if rec else None,
                last_success=last_success,
            )
            return
        if not force and rec and rec.status == "succeeded" and rec.hash == digest:
            return
        if not force and rec and last_success and last_success.pipeline_hash == digest:
            # Back to the spec of the last successful run (e.g. a failed change was reverted).
            self.out.step(f"pipeline {key}: unchanged since run {last_success.run_id}")
            rec.status, rec.hash, rec.reason = "succeeded", digest, None
            return
        why = (
            "new"
            if rec is None
            else {
                "failed": "its last run failed",
                "interrupted": "its last run was interrupted",
                "skipped": "it can run here now",
            }.get(rec.status, "its spec or code changed")
        )
        if rec and rec.status != "succeeded" and rec.hash != digest:
            why = "its spec or code changed"
        why = force or why
        steps = len(pipeline.order)
        self.out.step(f"pipeline {key}: running {steps} step{'s' * (steps != 1)} ({why})")
        if note := placement_note(pipeline):
            self.out.step(f"  {note}")
        width = max(len(s) for s in pipeline.order)
        events = StepEvents(
            on_start=lambda step: self.out.progress(f"  {step} ..."),
            on_finish=lambda step, status, took: self.out.step(
                f"  {step:<{width}}  {'ok' if status == 'SUCCESS' else status.lower()}  {took:.1f}s"
            ),
        )
        try:
            run = run_pipeline(
                pipeline=pipeline,
                runner=plan.runner,
                ir_file=self.ir_file,
                layout=self.layout,
                pipeline_hash=digest,
                spec_hash=self.spec_hash,
                events=events,
            )
        except RunInterrupted as stopped:
            self.state.pipelines[key] = PipelineRecord(
                team=pipeline.team,
                name=pipeline.name,
                status="interrupted",
                hash=digest,
                last_run=stopped.record,
                last_success=last_success,
            )
            raise
        self.changes.append(f"ran pipeline {key}")
        ok = run.status == "succeeded"
        self.state.pipelines[key] = PipelineRecord(
            team=pipeline.team,
            name=pipeline.name,
            status=run.status,
            hash=digest,
            last_run=run,
            last_success=run if ok else last_success,
        )
        self.save()
        if ok:
            self.out.step(f"pipeline {key}: succeeded in {run.seconds:.1f}s (run {run.run_id})")
            return
        self.report_failed_run(pipeline, run, events.tasks)

    def report_failed_run(self, pipeline: Pipeline, run: RunRecord, tasks: dict[str, str]) -> None:
        log = self.layout.root / run.log
        step = run.failed_step
        tail = step_log_tail(log, step, tasks)
        path = ["teams", pipeline.team, "pipelines", pipeline.name]
        if step:
            path += ["steps", step]
        where = f"at step '{step}'" if step else f"({run.message or 'no step ran'})"
        notes = (
            ("last lines of its log:\n" + "\n".join(f"      | {line}" for line in tail),)
            if tail
            else ()
        )
        previous = self.state.pipelines[f"{pipeline.team}/{pipeline.name}"].last_success
        kept = "; the previous run and its models stay in place" if previous else ""
        hint = f"full log: {_shown(log)}; fix it and run mlplat deploy again{kept}"
        missing = next((m for line in tail if (m := _MISSING_PACKAGE.search(line))), None)
        if missing:
            hint = (
                f"local runs use this environment's packages and never install: pin the "
                f"installed version of {missing[1]} in the step's packages, or install it "
                f"(.venv/bin/pip install -c requirements.lock ...); {hint}"
            )
        self.out.problem(
            error(
                "L100",
                f"pipeline '{pipeline.name}' of team '{pipeline.team}' failed {where}",
                self.out.span(path),
                hint,
                *notes,
            )
        )

    # -- models -----------------------------------------------------------------------------

    def deploy_models(self) -> None:
        wanted = {f"{m.team}/{m.name}" for m in self.ir.models()}
        for key in sorted(set(self.state.models) - wanted):
            del self.state.models[key]
            self.out.step(f"model {key}: removed from the spec (the registry keeps its versions)")
            self.changes.append(f"forgot model {key}")
        for model in self.ir.models():
            try:
                self.deploy_model(model)
            except RegistryError as exc:
                self.out.problem(
                    error(
                        "L101",
                        f"model '{model.name}' of team '{model.team}' could not be registered: {exc}",
                        self.out.span(["teams", model.team, "models", model.name]),
                        f"the registry is {_shown(self.layout.registry_db)}",
                    )
                )
            self.save()

    def deploy_model(self, model: Model) -> None:
        key = f"{model.team}/{model.name}"
        digest = model_hash(model)
        rec = self.state.models.get(key)
        if rec is None or rec.registry_name != model.registry_name:
            rec = ModelRecord(
                team=model.team,
                name=model.name,
                registry_name=model.registry_name,
                stage=model.stage,
                hash="",
            )
        self.state.models[key] = rec
        source = self.source_run(model)
        if source is not None and not any(v.run_id == source[1].run_id for v in rec.versions):
            pipeline, run = source
            version = self.register(model, pipeline, run)
            rec.versions.append(version)
            rec.aliases = self.registry().aliases(model.registry_name)
            self.describe_version(key, rec, version)
        elif rec.hash and rec.hash != digest and (latest := rec.latest()) is not None:
            rec.aliases = self.registry().apply_stage(model, latest)
            where = f"{model.registry_name} v{latest.version}"
            if rec.aliases.get(model.stage) == latest.version:
                self.out.step(f"model {key}: @{model.stage} -> {where}")
            else:
                self.out.step(f"model {key}: stage '{model.stage}' (no alias) for {where}")
            self.changes.append(f"updated model {key}")
            if latest.card_check == "failed":
                self.warn_card(rec, latest)
        rec.hash, rec.stage, rec.card_metrics = digest, model.stage, list(model.card.metrics)

    def source_run(self, model: Model) -> tuple[Pipeline, RunRecord] | None:
        """The newest successful run of the model's source pipeline, if any."""
        if model.source is None:
            return None
        pipeline = self.ir.teams[model.team].pipelines.get(model.source.pipeline)
        rec = self.state.pipelines.get(f"{model.team}/{model.source.pipeline}")
        if pipeline is None or rec is None or rec.last_success is None:
            return None
        return pipeline, rec.last_success

    def register(self, model: Model, pipeline: Pipeline, run: RunRecord) -> ModelVersionRecord:
        assert model.source is not None
        artifact = run.outputs.get(model.source.step, {}).get(model.source.output)
        if artifact is None:
            raise RegistryError(
                f"run {run.run_id} has no output '{model.source.output}' of step "
                f"'{model.source.step}'"
            )
        self.out.progress(f"registering {model.registry_name} ...")
        lineage = {
            "mlplat.environment": self.ir.environment,
            "mlplat.team": pipeline.team,
            "mlplat.pipeline": pipeline.name,
            "mlplat.run_id": run.run_id,
            "mlplat.kfp_run": run.kfp_run or "",
            "mlplat.pipeline_hash": run.pipeline_hash,
            "mlplat.spec_hash": run.spec_hash,
            "mlplat.git_commit": self.commit(),
            "mlplat.step": model.source.step,
            "mlplat.output": model.source.output,
        }
        version = self.registry().register(
            model=model, pipeline=pipeline, run=run, artifact=artifact, lineage=lineage
        )
        self.changes.append(f"registered {model.registry_name} v{version.version}")
        return version

    def describe_version(self, key: str, rec: ModelRecord, version: ModelVersionRecord) -> None:
        aliases = sorted(a for a, v in rec.aliases.items() if v == version.version)
        model = self.ir.teams[rec.team].models[rec.name]
        shown = metrics_summary(version.metrics, list(model.card.metrics))
        label = f" @{', @'.join(aliases)}" if aliases else ""
        self.out.step(
            f"model {key}: registered {rec.registry_name} v{version.version}{label}"
            + (f" ({shown})" if shown else "")
        )
        if version.card_check == "failed":
            self.warn_card(rec, version)

    def warn_card(self, rec: ModelRecord, version: ModelVersionRecord) -> None:
        model = self.ir.teams[rec.team].models[rec.name]
        bounds = [
            f"{name}{f' >= {b.min}' if b.min is not None else ''}"
            f"{f' <= {b.max}' if b.max is not None else ''}"
            for name, b in model.card.metrics.items()
        ]
        measured = ", ".join(
            f"{name}={shown_number(version.metrics[name])}"
            for name in model.card.metrics
            if name in version.metrics
        )
        self.out.problem(
            warning(
                "L107",
                f"{rec.registry_name} v{version.version} misses the thresholds of its model card "
                f"({', '.join(bounds)}; measured {measured or 'nothing'})",
                self.out.span(["teams", rec.team, "models", rec.name, "card", "metrics"]),
                "it is registered, but does not take the 'production' alias"
                if model.stage == "production"
                else "it is registered, but could not be promoted to production",
            )
        )

    # -- endpoints --------------------------------------------------------------------------

    def deploy_endpoints(self, only: set[str] | None = None) -> None:
        """Bring endpoints to the spec: all of them, or only the keys (team/name) in `only`
        (a retraining run rolls the endpoints of its model and leaves the others alone)."""
        wanted = {f"{e.team}/{e.name}" for e in self.ir.endpoints()}
        for key in sorted(set(self.state.endpoints) - wanted if only is None else set()):
            rec = self.state.endpoints.pop(key)
            self.stop_endpoint(rec)
            self.out.step(f"endpoint {key}: removed from the spec; stopped")
            self.changes.append(f"removed endpoint {key}")
            self.save()
        starts: list[tuple[Endpoint, ModelRecord, ModelVersionRecord, str]] = []
        for endpoint in self.ir.endpoints():
            if only is not None and f"{endpoint.team}/{endpoint.name}" not in only:
                continue
            planned = self.plan_endpoint(endpoint)
            if planned is not None:
                starts.append(planned)
        if starts:
            self.start_endpoints(starts)

    def plan_endpoint(
        self, endpoint: Endpoint
    ) -> tuple[Endpoint, ModelRecord, ModelVersionRecord, str] | None:
        """What to start for `endpoint` (None: nothing, or it cannot be served here)."""
        key = f"{endpoint.team}/{endpoint.name}"
        rec = self.state.endpoints.get(key)
        problem = serving.runtime_problem(endpoint.runtime)
        model = self.state.models.get(f"{endpoint.model_team}/{endpoint.model}")
        if problem is not None:
            if problem.skip:
                self.skip_endpoint(endpoint, problem.message)
            else:
                self.fail_endpoint(endpoint, "L103", problem.message, problem.hint, ["runtime"])
            return None
        if model is None or not model.versions:
            self.skip_endpoint(endpoint, self.no_version_reason(endpoint))
            return None
        version = (
            serving_version(model, endpoint)
            if endpoint.version == "latest"
            else model.get(endpoint.version)
        )
        if version is None:
            known = ", ".join(str(v.version) for v in model.versions)
            self.fail_endpoint(
                endpoint,
                "L102",
                f"version {endpoint.version} of model '{model.registry_name}' is not registered "
                f"(registered: {known})",
                "serve version: latest, or a version that exists",
                ["version"],
            )
            return None
        digest = endpoint_hash(endpoint, self.served(endpoint, model, version))
        if endpoint.feature_service is not None and self.feature_wrap(endpoint) is None:
            self.fail_endpoint(
                endpoint,
                "E311",
                "its feature service cannot be read: the feature server is not running",
                "see the feature store problem above",
                ["feature_service"],
            )
            return None
        running = (
            rec is not None
            and rec.port is not None
            and processes.is_server(rec.pid, self.layout.server_dir(endpoint.team, endpoint.name))
            and serving.is_ready(rec.port, endpoint.name)
        )
        if rec is not None and rec.hash == digest and rec.status == "serving" and running:
            return None
        if rec is None or rec.status == "skipped":
            why = "new"
        elif rec.status == "failed":
            why = "its last start failed"
        elif rec.hash == digest:
            why = "it was not running: stopped or crashed" if not running else "restart"
        elif rec.registry_name == model.registry_name and rec.version != version.version:
            why = f"model version v{rec.version} -> v{version.version}"
        else:
            why = "its spec changed"
        return endpoint, model, version, why

    def served(
        self, endpoint: Endpoint, model: ModelRecord, version: ModelVersionRecord
    ) -> list[Any]:
        """What an endpoint serves besides its spec (a change restarts it)."""
        wrap = self.feature_wrap(endpoint) if endpoint.feature_service else None
        return [model.registry_name, version.version, version.model_path, wrap]

    def feature_wrap(self, endpoint: Endpoint) -> tuple[str, dict[str, Any]] | None:
        """The runtime that reads the endpoint's features online (None: none, or no server)."""
        service = endpoint.feature_service
        if service is None or self.features is None:
            return None
        url = self.features.server_url()
        if url is None:
            return None
        return "compiler.deploy.local.feature_serving.OnlineFeatures", {
            "inner": serving.MLSERVER_RUNTIMES[endpoint.runtime][1],
            "feature_server": url,
            "feature_service": service.feast_name,
            "features": service.columns(),
            "join_keys": service.inputs(),  # join keys and the on-demand views' request values
        }

    def no_version_reason(self, endpoint: Endpoint) -> str:
        model = self.ir.teams[endpoint.model_team].models.get(endpoint.model)
        reason = f"model '{endpoint.model}' has no registered version"
        if model is None or model.source is None:
            return reason + " (it has no source pipeline)"
        rec = self.state.pipelines.get(f"{model.team}/{model.source.pipeline}")
        if rec is not None and rec.status == "skipped":
            return reason + f" (pipeline '{model.source.pipeline}' was skipped)"
        if rec is not None and rec.status in ("failed", "interrupted"):
            return reason + f" (pipeline '{model.source.pipeline}' {rec.status})"
        return reason

    def skip_endpoint(self, endpoint: Endpoint, reason: str) -> None:
        key = f"{endpoint.team}/{endpoint.name}"
        rec = self.state.endpoints.get(key)
        if rec is not None and rec.status == "skipped" and rec.reason == reason:
            return
        if rec is not None:
            self.stop_endpoint(rec)
        self.out.step(f"endpoint {key}: skipped: {reason}")
        self.state.endpoints[key] = EndpointRecord(
            team=endpoint.team, name=endpoint.name, status="skipped", hash="", reason=reason
        )

    def fail_endpoint(
        self,
        endpoint: Endpoint,
        code: str,
        message: str,
        hint: str | None,
        at: list[str],
        tail: list[str] | None = None,
    ) -> None:
        key = f"{endpoint.team}/{endpoint.name}"
        rec = self.state.endpoints.get(key)
        if rec is not None:
            self.stop_endpoint(rec)
        self.state.endpoints[key] = EndpointRecord(
            team=endpoint.team,
            name=endpoint.name,
            status="failed",
            hash="",
            reason=message,
            port=rec.port if rec else None,
            grpc_port=rec.grpc_port if rec else None,
        )
        notes = (
            ("last lines of the server log:\n" + "\n".join(f"      | {line}" for line in tail),)
            if tail
            else ()
        )
        self.out.problem(
            error(
                code,
                f"endpoint '{endpoint.name}' of team '{endpoint.team}': {message}",
                self.out.span(["teams", endpoint.team, "endpoints", endpoint.name, *at]),
                hint,
                *notes,
            )
        )

    def stop_endpoint(self, rec: EndpointRecord) -> None:
        server_dir = self.layout.server_dir(rec.team, rec.name)
        if processes.is_server(rec.pid, server_dir) and rec.pid:
            self.out.progress(f"stopping {rec.team}/{rec.name} ...")
            processes.stop(rec.pid)
        rec.pid = None

    def start_endpoints(
        self, starts: list[tuple[Endpoint, ModelRecord, ModelVersionRecord, str]]
    ) -> None:
        """Start every planned server, then wait for all of them at once."""
        launches: dict[str, tuple[serving.Launch, Endpoint, ModelRecord, ModelVersionRecord]] = {}
        try:
            for endpoint, model, version, why in starts:
                key = f"{endpoint.team}/{endpoint.name}"
                old = self.state.endpoints.get(key)
                if old is not None:
                    self.stop_endpoint(old)
                self.out.step(
                    f"endpoint {key}: starting {model.registry_name} v{version.version} ({why})"
                )
                self.changes.append(f"started endpoint {key}")
                launch = self.launch(endpoint, model, version, old)
                if launch is not None:
                    launches[key] = (launch, endpoint, model, version)
            self.save()
            self.wait_for(launches)
        except BaseException:
            # Interrupted or failed while servers start: none is left running unrecorded.
            for key, (launch, *_rest) in launches.items():
                rec = self.state.endpoints.get(key)
                if rec is None or rec.status != "serving":
                    with contextlib.suppress(OSError):
                        processes.stop(launch.process.pid, timeout=5)
                    if rec is not None:
                        rec.status, rec.pid, rec.reason = "stopped", None, "interrupted"
            raise

    def launch(
        self,
        endpoint: Endpoint,
        model: ModelRecord,
        version: ModelVersionRecord,
        old: EndpointRecord | None,
        avoid: tuple[int, ...] = (),
    ) -> serving.Launch | None:
        key = f"{endpoint.team}/{endpoint.name}"
        reserved = {
            port
            for other_key, other in self.state.endpoints.items()
            if other_key != key
            for port in (other.port, other.grpc_port)
            if port is not None
        } | set(avoid)
        preferred = [p for p in (old.port, old.grpc_port) if p] if old else []
        try:
            port, grpc_port = allocate_ports(2, preferred=preferred, reserved=reserved)
        except NoFreePort as exc:
            self.fail_endpoint(
                endpoint, "L104", str(exc), "stop other local servers to free ports", []
            )
            return None
        if old is not None and old.port is not None and port != old.port:
            self.out.step(
                f"endpoint {key}: port {old.port} is taken by another program; using {port}"
            )
        server_dir = self.layout.server_dir(endpoint.team, endpoint.name)
        log = self.layout.server_log(endpoint.team, endpoint.name)
        serving.write_server_folder(
            server_dir,
            endpoint=endpoint.name,
            runtime=endpoint.runtime,
            version=version,
            port=port,
            grpc_port=grpc_port,
            wrap=self.feature_wrap(endpoint),
            payloads=payload_log.for_endpoint(self.layout, endpoint),
        )
        offset = log.stat().st_size if log.exists() else 0
        process = serving.start_server(server_dir, log)
        self.state.endpoints[key] = EndpointRecord(
            team=endpoint.team,
            name=endpoint.name,
            status="starting",
            hash=endpoint_hash(endpoint, self.served(endpoint, model, version)),
            registry_name=model.registry_name,
            version=version.version,
            runtime=endpoint.runtime,
            port=port,
            grpc_port=grpc_port,
            pid=process.pid,
            server_dir=self.layout.relative(server_dir),
            log=self.layout.relative(log),
            started_at=now(),
            request=entity_request(self.ir, endpoint, version),
        )
        return serving.Launch(
            key=key,
            endpoint=endpoint.name,
            process=process,
            port=port,
            log=log,
            log_offset=offset,
            started=time.monotonic(),
        )

    def wait_for(
        self,
        launches: dict[str, tuple[serving.Launch, Endpoint, ModelRecord, ModelVersionRecord]],
    ) -> None:
        pending = dict(launches)
        retried: set[str] = set()
        deadline = time.monotonic() + serving.READY_TIMEOUT
        while pending:
            names = ", ".join(sorted(pending))
            self.out.progress(f"waiting for {names} ...")
            for key, (launch, endpoint, model, version) in list(pending.items()):
                outcome = serving.poll_launch(launch)
                if outcome is False and time.monotonic() > deadline:
                    outcome = serving.timed_out(launch, serving.READY_TIMEOUT)
                if outcome is False:
                    continue
                del pending[key]
                rec = self.state.endpoints[key]
                if outcome is True:
                    rec.status = "serving"
                    took = time.monotonic() - launch.started
                    self.out.step(f"endpoint {key}: ready at {rec.url} in {took:.1f}s")
                    self.save()
                    continue
                assert isinstance(outcome, serving.StartFailure)
                processes.stop(launch.process.pid, timeout=5)
                launch.process.wait()
                if outcome.port_in_use and key not in retried:
                    # Another program took the port since it was checked: pick others once.
                    retried.add(key)
                    self.out.step(f"endpoint {key}: port {launch.port} was taken; retrying")
                    again = self.launch(endpoint, model, version, None, (launch.port,))
                    if again is not None:
                        pending[key] = (again, endpoint, model, version)
                    continue
                self.fail_endpoint(
                    endpoint,
                    "L104" if outcome.port_in_use else "L105",
                    outcome.message,
                    f"{outcome.hint + '; ' if outcome.hint else ''}server log: "
                    f"{_shown(launch.log)}",
                    [],
                    outcome.tail,
                )
                self.save()
            if pending:
                time.sleep(0.2)


def _shown(path: Path) -> str:
    """A path as the user typed it: relative to the working folder when inside it."""
    with contextlib.suppress(ValueError):
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    return str(path)
