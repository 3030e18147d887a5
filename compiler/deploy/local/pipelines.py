"""Run pipelines locally: decide how (or why not), run each in a child process, keep its log.

Python steps run with kfp.local's subprocess runner in this environment; container steps
need its Docker runner, so a pipeline with container steps runs only when a Docker engine
answers and is otherwise skipped as a whole, with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from compiler.deploy.local.layout import StateLayout
from compiler.deploy.local.pipeline_runner import TASKS_MARKER
from compiler.deploy.local.processes import child_env
from compiler.deploy.local.state import OutputRecord, RunRecord, now
from compiler.ir import Pipeline
from compiler.team_packages import code_root

LOG_TAIL_LINES = 25
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXECUTING = re.compile(r"Executing task '([^']+)'")
_FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
_KFP_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d+ - [A-Z]+ - ")
"""kfp.local's own log lines (the step's output is indented under them)."""
_OWN_FRAME = "ephemeral_component.py"
"""The file kfp runs a python step's function from."""


def docker_problem() -> str | None:
    """Why kfp.local's Docker runner cannot be used here (None when a Docker engine answers)."""
    try:
        import docker
    except ImportError:
        return "the 'docker' Python package is not installed"
    try:
        docker.from_env(timeout=3).ping()
    except Exception:
        return "no Docker engine answers"
    return None


@dataclass
class RunPlan:
    runner: str | None
    """'subprocess' or 'docker'; None when the pipeline cannot run here."""
    reason: str | None = None


def run_arguments(pipeline: Pipeline) -> dict[str, object]:
    """Values for parameters without a default: those of the pipeline's schedule."""
    scheduled = pipeline.schedule.parameters if pipeline.schedule else {}
    return {
        name: scheduled[name]
        for name, spec in pipeline.parameters.items()
        if spec.default is None and name in scheduled
    }


def plan_run(pipeline: Pipeline, docker: Callable[[], str | None]) -> RunPlan:
    """How the pipeline runs locally, or why it is skipped."""
    given = run_arguments(pipeline)
    missing = [n for n, p in pipeline.parameters.items() if p.default is None and n not in given]
    if missing:
        names = ", ".join(f"'{n}'" for n in missing)
        return RunPlan(None, f"parameter {names} has no default (local runs use the defaults)")
    containers = [s for s in pipeline.order if pipeline.steps[s].kind == "container"]
    if not containers:
        return RunPlan("subprocess")
    problem = docker()
    if problem is None:
        return RunPlan("docker")
    names = ", ".join(f"'{s}'" for s in containers)
    noun = "step" if len(containers) == 1 else "steps"
    verb = "needs" if len(containers) == 1 else "need"
    return RunPlan(None, f"container {noun} {names} {verb} Docker: {problem}")


def placement_note(pipeline: Pipeline) -> str | None:
    """What of the spec a local run cannot honour: GPU requests and node pools (every step
    runs on this machine's CPUs). Said once per run, naming the steps it concerns."""
    steps = [
        f"'{name}' ({step.resources.gpu} GPU{'s' * (step.resources.gpu != 1)}, "
        f"node pool '{step.node_pool}')"
        for name in pipeline.order
        if (step := pipeline.steps[name]).resources.gpu
    ]
    if not steps:
        return None
    noun = "step" if len(steps) == 1 else "steps"
    return (
        f"note: GPU requests and node pools do not apply in local: {noun} {', '.join(steps)} "
        "run on this machine's CPUs"
    )


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the run was stopped; `record` says how far it got."""

    def __init__(self, record: RunRecord) -> None:
        super().__init__("interrupted")
        self.record = record


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


@dataclass
class StepEvents:
    """Turns the log of a kfp.local run into step progress."""

    on_start: Callable[[str], None]
    on_finish: Callable[[str, str, float], None]
    tasks: dict[str, str] = field(default_factory=dict)
    """kfp task name → IR step name."""
    started: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    current: str | None = None

    def feed(self, line: str) -> None:
        text = _ANSI.sub("", line)
        if text.startswith(TASKS_MARKER):
            with contextlib.suppress(ValueError):
                self.tasks = dict(json.loads(text[len(TASKS_MARKER) :]))
            return
        if match := _EXECUTING.search(text):
            step = self.tasks.get(match.group(1), match.group(1))
            self.current = step
            self.started[step] = time.monotonic()
            self.on_start(step)
        elif match := _FINISHED.search(text):
            step = self.tasks.get(match.group(1), match.group(1))
            took = time.monotonic() - self.started.get(step, time.monotonic())
            self.statuses[step] = match.group(2)
            self.seconds[step] = round(took, 2)
            self.on_finish(step, match.group(2), took)


def step_log_tail(log: Path, step: str | None, tasks: dict[str, str]) -> list[str]:
    """The last lines a step printed (or of the whole log when the step is unknown)."""
    try:
        lines = [_ANSI.sub("", line.rstrip("\n")) for line in log.open(encoding="utf-8")]
    except OSError:
        return []
    names = {task for task, s in tasks.items() if s == step} | ({step} if step else set())
    section = lines
    for index in range(len(lines) - 1, -1, -1):
        match = _EXECUTING.search(lines[index])
        if match and match.group(1) in names:
            section = lines[index + 1 :]
            following = [i for i, line in enumerate(section) if _EXECUTING.search(line)]
            section = section[: following[0]] if following else section
            break
    kept = [
        line.removeprefix("    ")
        for line in section
        if line.strip() and not set(line.strip()) <= {"-"} and not _KFP_LINE.match(line)
    ]
    # A python traceback says it best: keep it from the first frame of the step's own code.
    starts = [i for i, line in enumerate(kept) if line.startswith("Traceback (most recent")]
    if starts:
        trace = kept[starts[-1] :]
        own = next((i for i, line in enumerate(trace) if _OWN_FRAME in line), None)
        if own is not None:
            trace = [trace[0], *trace[own:]]
        return trace[-LOG_TAIL_LINES:]
    return kept[-LOG_TAIL_LINES:]


def run_pipeline(
    *,
    pipeline: Pipeline,
    runner: str,
    ir_file: Path,
    layout: StateLayout,
    pipeline_hash: str,
    spec_hash: str,
    events: StepEvents,
) -> RunRecord:
    """Run the pipeline in a child process; its whole output goes to the run's log file."""
    run_id = new_run_id()
    root = layout.pipeline_root(pipeline.team, pipeline.name)
    log = layout.pipeline_log(pipeline.team, pipeline.name, run_id)
    result_file = log.with_suffix(".result.json")
    root.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "compiler.deploy.local.pipeline_runner",
        "--ir",
        str(ir_file),
        "--team",
        pipeline.team,
        "--pipeline",
        pipeline.name,
        "--pipeline-root",
        str(root),
        "--runner",
        runner,
        "--result",
        str(result_file),
        "--code-root",
        str(code_root()),
    ]
    # Python steps run in this environment: a step's `packages` that are installed already
    # pass, others fail the step instead of silently changing the project's environment.
    env = {**child_env(), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    started_at, started = now(), time.monotonic()
    record = RunRecord(
        run_id=run_id,
        status="interrupted",
        started_at=started_at,
        seconds=0.0,
        pipeline_hash=pipeline_hash,
        spec_hash=spec_hash,
        runner=runner,
        root=layout.relative(root),
        log=layout.relative(log),
    )
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:
                sink.write(line)
                sink.flush()
                events.feed(line)
            code = process.wait()
        except BaseException as exc:
            # Interrupted: stop the run and its step processes, keep the log.
            _stop_group(process)
            record.seconds = round(time.monotonic() - started, 2)
            record.steps = dict(events.statuses)
            record.step_seconds = dict(events.seconds)
            record.message = "interrupted"
            if isinstance(exc, KeyboardInterrupt):
                raise RunInterrupted(record) from None
            raise
    record.seconds = round(time.monotonic() - started, 2)
    record.steps = {s: events.statuses.get(s, "NOT RUN") for s in pipeline.order}
    record.step_seconds = dict(events.seconds)
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = {"status": "failed", "message": f"the pipeline runner exited with status {code}"}
    record.status = "succeeded" if result.get("status") == "succeeded" and code == 0 else "failed"
    record.message = result.get("message")
    record.kfp_run = result.get("kfp_run")
    record.tuning = result.get("tuning")
    record.outputs = {
        step: {name: OutputRecord(**out) for name, out in (info.get("outputs") or {}).items()}
        for step, info in (result.get("steps") or {}).items()
    }
    if record.status == "failed":
        failed = [s for s, status in record.steps.items() if status == "FAILURE"]
        record.failed_step = failed[0] if failed else events.current
    return record


def _stop_group(process: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
