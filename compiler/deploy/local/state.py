"""The state file: what the local platform has deployed, and from which spec.

It is the memory that makes `mlplat deploy` incremental: each pipeline, model and endpoint
records the hash of the spec (and code) it came from. It is only ever replaced whole
(temporary file + fsync + os.replace), so an interrupted command leaves either the previous
state or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from compiler.deploy.local.layout import STATE_KIND
from compiler.deploy.local.monitor_state import MonitorRecord

STATE_SCHEMA_VERSION = 1
CardCheck = Literal["passed", "failed", "missing"]


class StateError(Exception):
    """The state file or folder cannot be used; the message says why and what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutputRecord(Record):
    uri: str
    metadata: dict[str, Any] = {}


class RunRecord(Record):
    """One execution of a pipeline with kfp.local."""

    run_id: str
    status: Literal["succeeded", "failed", "interrupted"]
    started_at: str
    seconds: float
    pipeline_hash: str
    spec_hash: str
    runner: str
    root: str
    """Pipeline root of the run, relative to the state folder."""
    kfp_run: str | None = None
    """The folder kfp.local created for the run inside the pipeline root."""
    log: str
    """Log of the run, relative to the state folder."""
    steps: dict[str, str] = {}
    """Step → status (SUCCESS, FAILURE, or not reached)."""
    step_seconds: dict[str, float] = {}
    failed_step: str | None = None
    message: str | None = None
    outputs: dict[str, dict[str, OutputRecord]] = {}
    """Step → output → artifact (uri, metadata) or parameter (value in metadata)."""
    tuning: dict[str, Any] | None = None
    """A sweep's trials, best and default trial (the outputs above are the best trial's)."""


class PipelineRecord(Record):
    team: str
    name: str
    status: Literal["succeeded", "failed", "skipped", "interrupted"]
    hash: str
    """Hash of the pipeline (spec + step code) that `status` refers to."""
    reason: str | None = None
    """Why the pipeline was skipped."""
    last_run: RunRecord | None = None
    last_success: RunRecord | None = None


class ModelVersionRecord(Record):
    version: int
    run_id: str
    """The pipeline run that trained it."""
    mlflow_run_id: str
    pipeline_hash: str
    model_path: str
    """The model file served, inside the registry's artifact store (absolute)."""
    metrics: dict[str, int | float] = {}
    """Whole-number results stay ints."""
    features: list[str] | None = None
    n_features: int | None = None
    outputs: list[str] = []
    """Output names the runtime offers (predict, predict_proba)."""
    input_example: dict[str, Any] | None = None
    card_check: CardCheck = "missing"
    registered_at: str


class ModelRecord(Record):
    team: str
    name: str
    registry_name: str
    stage: str
    hash: str
    versions: list[ModelVersionRecord] = []
    aliases: dict[str, int] = {}
    card_metrics: list[str] = []
    """Metrics the model card sets thresholds for (shown first)."""

    def latest(self) -> ModelVersionRecord | None:
        return max(self.versions, key=lambda v: v.version) if self.versions else None

    def get(self, version: int) -> ModelVersionRecord | None:
        return next((v for v in self.versions if v.version == version), None)


class EndpointRecord(Record):
    team: str
    name: str
    status: Literal["starting", "serving", "stopped", "skipped", "failed"]
    hash: str
    reason: str | None = None
    registry_name: str | None = None
    version: int | None = None
    runtime: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    grpc_port: int | None = None
    pid: int | None = None
    server_dir: str | None = None
    log: str | None = None
    started_at: str | None = None
    request: dict[str, Any] | None = None
    """An example request, when it differs from the model's (entity keys of a feature service)."""

    @property
    def url(self) -> str | None:
        if self.port is None:
            return None
        return f"http://{self.host}:{self.port}/v2/models/{self.name}"


class FeatureStoreRecord(Record):
    """The local Feast store: what was applied and materialized, and its feature server."""

    repo_hash: str = ""
    views: dict[str, str] = {}
    """Feast view name → hash of the definition and source data last materialized."""
    applied_at: str | None = None
    server_pid: int | None = None
    server_port: int | None = None
    server_repo_hash: str | None = None


class LocalState(Record):
    kind: Literal["mlplat-local-state"] = "mlplat-local-state"
    schema_version: int = STATE_SCHEMA_VERSION
    environment: str
    spec_hash: str | None = None
    deployed_at: str | None = None
    pipelines: dict[str, PipelineRecord] = {}
    models: dict[str, ModelRecord] = {}
    endpoints: dict[str, EndpointRecord] = {}
    features: FeatureStoreRecord | None = None
    monitoring: dict[str, MonitorRecord] = {}
    """Endpoint → its last drift check and retraining run (`mlplat monitor`)."""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def load_state(path: Path) -> LocalState | None:
    """The recorded state, or None when nothing was deployed to this folder yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("kind") != STATE_KIND:
            raise ValueError(f"not an mlplat state file (kind is not '{STATE_KIND}')")
        if data.get("schema_version") != STATE_SCHEMA_VERSION:
            raise ValueError(
                f"schema version {data.get('schema_version')} (expected {STATE_SCHEMA_VERSION})"
            )
        return LocalState.model_validate(data)
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise StateError(
            f"state file {path} is unreadable: {first}",
            hint="`mlplat destroy --yes` removes the local deployment; deploy again afterwards",
        ) from None


def save_state(path: Path, state: LocalState) -> None:
    """Replace the state file atomically: readers see the old or the new file, never a mix."""
    text = json.dumps(state.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def state_lock(lock_file: Path) -> Iterator[None]:
    """Hold the deployment's lock: two commands never change one state folder at once."""
    import fcntl

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError(
                f"another mlplat command is changing {lock_file.parent}",
                hint="wait for it to finish (or stop it) and try again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
