"""The payload log of a monitored local endpoint: what it was asked and what it answered.

One JSON line per request, appended to `<logs bucket>/<team>/payloads/<endpoint>/<day>.jsonl`
(the prefix the cluster's KServe logger writes to). Each line is a single `write` on a file
opened with O_APPEND and is fsync'd before the response leaves, so a restarted, killed or
crashed server loses nothing it answered, two servers (old and new, during a restart) never
interleave, and earlier lines are never rewritten. A torn last line (power loss mid-write) is
skipped by the reader.

The model server side (`payload_runtime.PayloadLoggingRuntime`) wraps the endpoint's MLServer
runtime; `wrap` rewrites the generated model settings to put it in front, keeping the runtime
it wraps, so other wrappers compose with it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.deploy.local.layout import StateLayout
from compiler.ir import Endpoint

RUNTIME = "compiler.deploy.local.payload_runtime.PayloadLoggingRuntime"
INNER_KEY = "mlplat_payload_inner"
DIR_KEY = "mlplat_payload_dir"
RATE_KEY = "mlplat_payload_sample_rate"


@dataclass(frozen=True)
class PayloadLog:
    """Where an endpoint logs its payloads and which share of requests it logs."""

    directory: Path
    sample_rate: float = 1.0


def payload_dir(layout: StateLayout, endpoint: Endpoint) -> Path | None:
    mon = endpoint.monitoring
    if mon is None:
        return None
    return layout.buckets / mon.payload_bucket / mon.payload_prefix.rstrip("/")


def for_endpoint(layout: StateLayout, endpoint: Endpoint) -> PayloadLog | None:
    """The payload log of a monitored endpoint (None: it is not monitored)."""
    directory = payload_dir(layout, endpoint)
    if directory is None or endpoint.monitoring is None:
        return None
    return PayloadLog(directory, endpoint.monitoring.sample_rate)


def wrap(model_settings: dict[str, Any], log: PayloadLog | None) -> dict[str, Any]:
    """Model settings whose runtime logs payloads, then calls the runtime they named."""
    if log is None:
        return model_settings
    parameters = dict(model_settings.get("parameters") or {})
    extra = dict(parameters.get("extra") or {})
    extra.update(
        {
            INNER_KEY: model_settings["implementation"],
            DIR_KEY: str(log.directory),
            RATE_KEY: log.sample_rate,
        }
    )
    parameters["extra"] = extra
    return {**model_settings, "implementation": RUNTIME, "parameters": parameters}


class PayloadWriter:
    """Appends one record per call; durable (fsync'd) when `append` returns."""

    def __init__(self, directory: Path | str, sample_rate: float = 1.0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self._lock = threading.Lock()
        self._day = ""
        self._fd: int | None = None

    def _file(self, now: float) -> int:
        day = time.strftime("%Y%m%d", time.gmtime(now))
        if day != self._day or self._fd is None:
            if self._fd is not None:
                os.close(self._fd)
            path = self.directory / f"{day}.jsonl"
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._day = day
        return self._fd

    def sampled(self) -> bool:
        return self.sample_rate >= 1.0 or random.random() < self.sample_rate

    def append(self, record: dict[str, Any]) -> None:
        now = float(record.setdefault("ts", time.time()))
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            fd = self._file(now)
            os.write(fd, line)
            os.fdatasync(fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read_records(
    directory: Path,
    *,
    last: int | None = None,
    since_seconds: int | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Logged records, oldest first: the last `last`, of the last `since_seconds` if given."""
    cutoff = (now or time.time()) - since_seconds if since_seconds else None
    keep: deque[dict[str, Any]] = deque(maxlen=last)
    for record in _records(directory):
        if cutoff is None or float(record.get("ts", 0)) >= cutoff:
            keep.append(record)
    return list(keep)


def _records(directory: Path) -> Iterator[dict[str, Any]]:
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.jsonl")):
        with path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # a torn last line
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield record


def rows(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Column → values over every row of the logged requests (a request may hold a batch)."""
    columns: dict[str, list[Any]] = {}
    for record in records:
        inputs = record.get("inputs") or {}
        size = max((len(v) for v in inputs.values() if isinstance(v, list)), default=0)
        for name, values in inputs.items():
            column = columns.setdefault(name, [])
            if isinstance(values, list) and len(values) == size:
                column.extend(values)
    return columns


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
