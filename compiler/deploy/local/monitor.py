"""`mlplat monitor` for the local target: drift of each monitored endpoint, its report, and
retraining on drift through the deploy machinery.

For every endpoint with `monitoring:` that serves here: the requests its current model version
logged (the window of the spec) are compared with the reference Dataset of the last successful
run of the reference pipeline; an HTML report is written under the logs bucket
(`<team>/monitoring/<endpoint>/report.html`); the check is recorded in the state file. On
drift with `on_drift: retrain`, unless the cool-down since the last retraining run has not
passed, the retraining pipeline runs with kfp.local, its model is registered (lineage and card
check, as `mlplat deploy` does), and the endpoint is rolled to the new version only if that
version passed its model card.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.cli import EXIT_INVALID, EXIT_OK, Console
from compiler.deploy.local import payload_log
from compiler.deploy.local.deploy import LocalDeploy, _terminate_as_interrupt
from compiler.deploy.local.drift import DriftResult, check
from compiler.deploy.local.drift_report import write_report
from compiler.deploy.local.layout import StateLayout, default_state_dir, unsafe_state_dir
from compiler.deploy.local.monitor_state import HISTORY, DriftPoint, MonitorRecord
from compiler.deploy.local.report import Reporter
from compiler.deploy.local.state import (
    LocalState,
    StateError,
    load_state,
    now,
    save_state,
    state_lock,
)
from compiler.diagnostics import Span, error, warning
from compiler.frontend import FrontendResult
from compiler.ir import Endpoint, PlatformIR
from compiler.link_monitoring import check_features
from schemas.monitoring import PredictionObjective
from schemas.serving import LatencyObjective

EXIT_DRIFT = 3
"""`--fail-on-drift` and an endpoint drifted (distinct from 1, a failed command)."""


@dataclass
class Outcome:
    drifted: list[str]
    errors: int


def read_reference(path: Path, features: list[str]) -> dict[str, list[Any]]:
    """Columns of a CSV reference Dataset (numbers as floats, other values as text)."""
    columns: dict[str, list[Any]] = {f: [] for f in features}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for f in features:
                value = row.get(f)
                if value is None or value == "":
                    continue
                try:
                    columns[f].append(float(value))
                except ValueError:
                    columns[f].append(value)
    return {f: v for f, v in columns.items() if v}


def monitor_local(
    result: FrontendResult,
    *,
    build_dir: Path,
    state_dir: Path | None,
    console: Console,
    fail_on_drift: bool = False,
    only: list[str] | None = None,
    on_retrain: Any = None,
) -> int:
    """Check every monitored endpoint; the exit code of `mlplat monitor`.

    `on_retrain(ir, layout) -> str | None`: the deploy checks to pass before a retraining
    run changes anything (an error message when they fail)."""
    ir = result.ir
    assert ir is not None
    folder = state_dir or default_state_dir(ir.environment)
    problem = unsafe_state_dir(folder)
    if problem:
        console.err.write(f"mlplat: error: refusing state folder: {problem}\n")
        return EXIT_INVALID
    layout = StateLayout.at(folder, ir)
    reporter = Reporter(console, result.sources)
    previous = _terminate_as_interrupt()
    try:
        with state_lock(layout.lock_file):
            state = load_state(layout.state_file)
            if state is None:
                console.result(f"nothing deployed in {folder} (run: mlplat deploy)")
                return EXIT_OK
            session = Monitor(ir, layout, state, reporter, build_dir / ir.environment / "ir.json")
            session.on_retrain = on_retrain
            outcome = session.run(only)
    except StateError as exc:
        reporter.problem(error("L106", str(exc), Span(str(folder)), exc.hint))
        return EXIT_INVALID
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)
    if console.fmt == "json":
        console.diagnostics(reporter.diagnostics)
    if outcome.errors:
        return EXIT_INVALID
    if outcome.drifted and fail_on_drift:
        return EXIT_DRIFT
    return EXIT_OK


def objectives(
    prediction: PredictionObjective | None,
    latency: LatencyObjective | None,
    records: list[dict[str, Any]],
) -> tuple[float | None, float | None, list[str]]:
    """Positive rate, server latency at the objective's percentile, and the objectives missed."""
    missed: list[str] = []
    rate: float | None = None
    if prediction is not None:
        scores: list[float] = []
        for record in records:
            out = (record.get("outputs") or {}).get(prediction.output) or {}
            data, shape = out.get("data") or [], out.get("shape") or []
            if len(shape) == 2 and shape[1] == 2:
                scores += [float(v) for v in data[1::2]]  # P(class 1) of each row
            else:
                scores += [float(v) for v in data]
        if scores:
            rate = round(sum(s >= 0.5 for s in scores) / len(scores), 4)
            if prediction.max_positive_rate is not None and rate > prediction.max_positive_rate:
                missed.append(f"positive rate {rate:.3f} > {prediction.max_positive_rate}")
            if prediction.min_positive_rate is not None and rate < prediction.min_positive_rate:
                missed.append(f"positive rate {rate:.3f} < {prediction.min_positive_rate}")
    millis: float | None = None
    times = sorted(float(r["ms"]) for r in records if isinstance(r.get("ms"), int | float))
    if latency is not None and times:
        index = min(len(times) - 1, int(len(times) * latency.percentile / 100))
        millis = round(times[index], 3)
        if millis > latency.target_ms:
            missed.append(f"p{latency.percentile} latency {millis:.1f} ms > {latency.target_ms} ms")
    return rate, millis, missed


class Monitor:
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
        self.on_retrain: Any = None

    def save(self) -> None:
        save_state(self.layout.state_file, self.state)

    def run(self, only: list[str] | None) -> Outcome:
        monitored = [e for e in self.ir.endpoints() if e.monitoring is not None]
        if only:
            monitored = [e for e in monitored if f"{e.team}/{e.name}" in only or e.name in only]
        if not monitored:
            self.out.console.result("ok: no monitored endpoints")
            return Outcome([], 0)
        drifted: list[str] = []
        for endpoint in monitored:
            if self.check_endpoint(endpoint):
                drifted.append(f"{endpoint.team}/{endpoint.name}")
            self.save()
        errors = self.out.errors
        if errors:
            self.out.console.result(f"failed: monitor finished with {errors} error(s)")
        else:
            self.out.console.result(
                f"ok: checked {len(monitored)} monitored endpoint(s); "
                + (f"drift in {', '.join(drifted)}" if drifted else "no drift")
            )
        return Outcome(drifted, errors)

    def _path(self, endpoint: Endpoint, *rest: str) -> list[str]:
        return ["teams", endpoint.team, "endpoints", endpoint.name, *rest]

    def check_endpoint(self, endpoint: Endpoint) -> bool:
        """Check one endpoint (and retrain it when due); True when it drifted."""
        mon = endpoint.monitoring
        assert mon is not None
        key = f"{endpoint.team}/{endpoint.name}"
        rec = self.state.monitoring.setdefault(key, MonitorRecord())
        served = self.state.endpoints.get(key)
        model = self.state.models.get(f"{endpoint.model_team}/{endpoint.model}")
        version = model.get(served.version) if model and served and served.version else None
        if served is None or served.status != "serving" or version is None:
            rec.status = "not serving"
            self.out.step(f"endpoint {key}: not serving here; nothing to check")
            return False
        diags = check_features(endpoint, version.features, self._locate, version.version)
        for diag in diags:
            self.out.problem(diag)
        if diags:
            return False
        pipe = self.state.pipelines.get(f"{endpoint.model_team}/{mon.reference_pipeline}")
        run = pipe.last_success if pipe else None
        artifact = (
            run.outputs.get(mon.reference_step, {}).get(mon.reference_output) if run else None
        )
        if artifact is None or not Path(artifact.uri).is_file():
            rec.status = "no reference"
            self.out.problem(
                warning(
                    "E346",
                    f"endpoint '{endpoint.name}' has no reference data yet: pipeline "
                    f"'{mon.reference_pipeline}' has no successful run with output "
                    f"'{mon.reference_output}' of step '{mon.reference_step}'",
                    self.out.span(self._path(endpoint, "monitoring")),
                    "run mlplat deploy first",
                )
            )
            return False
        started = time.monotonic()
        features = list(mon.features)
        reference = read_reference(Path(artifact.uri), features)
        directory = payload_log.payload_dir(self.layout, endpoint)
        assert directory is not None
        records = [
            r
            for r in payload_log.read_records(directory, since_seconds=mon.window_seconds)
            if str(r.get("version")) == str(version.version)
        ]
        if mon.window_requests is not None:
            records = records[-mon.window_requests :]
        current = payload_log.rows(records)
        checked_at = now()
        rec.checked_at, rec.version = checked_at, version.version
        rows = max((len(current.get(f, [])) for f in features), default=0)
        if len(records) < mon.min_requests:
            rec.status, rec.rows, rec.drift_share, rec.drifted_features = (
                "not enough data",
                rows,
                None,
                [],
            )
            self.out.step(
                f"endpoint {key}: {len(records)} logged requests for v{version.version}, "
                f"fewer than min_requests {mon.min_requests}; no check"
            )
            return False
        result = check(mon.features, reference, current, mon.drift_share)
        took = time.monotonic() - started
        rec.status = "drift" if result.drifted else "ok"
        rec.rows, rec.drift_share = result.rows, round(result.drift_share, 4)
        rec.drifted_features = result.drifted_features
        rec.scores = {f.feature: round(f.score, 6) for f in result.features}
        rec.history = [
            *rec.history,
            DriftPoint(
                checked_at=checked_at,
                version=version.version,
                drift_share=rec.drift_share,
                rows=result.rows,
            ),
        ][-HISTORY:]
        report = self.layout.bucket("logs") / endpoint.team / "monitoring" / endpoint.name
        report_file = report / "report.html"
        summary = (
            f"endpoint {key}: v{version.version}, {result.rows} rows: drift score "
            f"{result.drift_share:.2f}"
            + (
                f", drifted: {', '.join(result.drifted_features)}"
                if result.drifted
                else ", no drift"
            )
            + f" ({took:.2f}s)"
        )
        self.out.step(summary)
        missed = self.objectives(endpoint, rec, records)
        action = self.act(endpoint, rec, result) if result.drifted else "no action"
        if missed:
            action = f"objectives missed: {'; '.join(missed)}. {action}"
        write_report(
            report_file,
            endpoint=key,
            version=version.version,
            checked_at=checked_at,
            result=result,
            reference=reference,
            current=current,
            history=rec.history,
            action=action,
        )
        rec.report = self.layout.relative(report_file)
        self.out.step(f"endpoint {key}: report {report_file}")
        return result.drifted

    def objectives(
        self, endpoint: Endpoint, rec: MonitorRecord, records: list[dict[str, Any]]
    ) -> list[str]:
        """The prediction and latency objectives over the window; alerts for those missed."""
        assert endpoint.monitoring is not None
        rec.positive_rate, rec.latency_ms, missed = objectives(
            endpoint.monitoring.prediction, endpoint.latency_objective, records
        )
        rec.objectives_missed = missed
        for text in missed:
            self.out.step(f"alert: endpoint {endpoint.team}/{endpoint.name}: {text}")
        return missed

    def _locate(self, path: tuple[str | int, ...]) -> Span:
        return self.out.span([str(p) for p in path])

    def act(self, endpoint: Endpoint, rec: MonitorRecord, result: DriftResult) -> str:
        """Alert, and retrain unless inside the cool-down; what was done, in words."""
        mon = endpoint.monitoring
        assert mon is not None
        key = f"{endpoint.team}/{endpoint.name}"
        self.out.step(
            f"alert: endpoint {key} drifted ({', '.join(result.drifted_features)}; "
            f"score {result.drift_share:.2f})"
        )
        if mon.retrain_pipeline is None:
            return "alert raised (on_drift: alert)"
        if rec.retrain_epoch is not None:
            ready = rec.retrain_epoch + mon.cooldown_seconds
            if time.time() < ready:
                until = dt.datetime.fromtimestamp(ready, dt.UTC).isoformat(timespec="seconds")
                self.out.step(
                    f"endpoint {key}: in cool-down since the retraining run at "
                    f"{rec.retrain_started_at}; no new run before {until}"
                )
                return f"alert raised; retraining in cool-down until {until}"
        if self.on_retrain is not None:
            refused = self.on_retrain(self.ir, self.layout)
            if refused:
                self.out.problem(
                    error(
                        "E347",
                        f"endpoint '{endpoint.name}' drifted but was not retrained: {refused}",
                        self.out.span(self._path(endpoint, "monitoring", "on_drift")),
                        "fix the errors above (mlplat check lists them), then run mlplat monitor",
                    )
                )
                return f"alert raised; retraining refused: {refused}"
        return self.retrain(endpoint, rec)

    def retrain(self, endpoint: Endpoint, rec: MonitorRecord) -> str:
        mon = endpoint.monitoring
        assert mon is not None and mon.retrain_pipeline is not None
        key = f"{endpoint.team}/{endpoint.name}"
        pipeline = self.ir.teams[endpoint.team].pipelines[mon.retrain_pipeline]
        started = time.monotonic()
        rec.retrain_started_at, rec.retrain_epoch = now(), time.time()
        rec.retrain_result, rec.retrain_run = "running", None
        self.save()  # the cool-down holds even if this process dies during the run
        session = LocalDeploy(self.ir, self.layout, self.state, self.out, self.ir_file)
        before = self.state.endpoints[key].version
        try:
            session.deploy_pipeline(pipeline, force=f"drift on endpoint {key}")
            pipe = self.state.pipelines[f"{pipeline.team}/{pipeline.name}"]
            rec.retrain_run = pipe.last_run.run_id if pipe.last_run else None
            if pipe.status != "succeeded":
                rec.retrain_result = "retraining run failed"
                return "alert raised; the retraining run failed (the serving version stays)"
            session.deploy_models()
            served = {
                f"{e.team}/{e.name}"
                for e in self.ir.endpoints()
                if (e.model_team, e.model) == (endpoint.model_team, endpoint.model)
            }
            session.deploy_endpoints(
                only=served
            )  # the others (and their features) stay as they are
        finally:
            session.save()
        model = self.state.models[f"{endpoint.model_team}/{endpoint.model}"]
        newest = model.latest()
        after = self.state.endpoints[key].version
        took = time.monotonic() - started
        if newest is not None and newest.card_check == "failed":
            rec.retrain_result = f"v{newest.version} missed its model card; v{after} serves"
            self.out.step(f"endpoint {key}: {rec.retrain_result}")
        elif after != before and self.state.endpoints[key].status == "serving":
            rec.retrain_result = f"v{after} serving"
            self.out.step(
                f"endpoint {key}: retrained; {model.registry_name} v{after} serving "
                f"{took:.1f}s after the retraining started (v{before} stays in the registry)"
            )
        else:
            rec.retrain_result = f"v{after} still serving"
        return f"alert raised; retrained with pipeline '{pipeline.name}' ({rec.retrain_result})"
