"""`mlplat status`, `down` and `destroy` for the local target: read, stop, remove.

None of them needs the specs: they work from the state file, so they also work after the
configs changed or broke. Removal is confined to the entries a local deploy creates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.deploy.local import processes, serving
from compiler.deploy.local.features import stop_feature_server
from compiler.deploy.local.layout import OWNED_ENTRIES, STATE_FILE, unsafe_state_dir
from compiler.deploy.local.report import metrics_summary
from compiler.deploy.local.state import EndpointRecord, LocalState, load_state, save_state


@dataclass(frozen=True)
class EndpointHealth:
    running: bool
    ready: bool

    @property
    def label(self) -> str:
        if self.ready:
            return "ready"
        return "not ready" if self.running else "not running"


def server_dir(root: Path, rec: EndpointRecord) -> Path:
    return root / (rec.server_dir or f"endpoints/{rec.team}/{rec.name}")


def endpoint_health(root: Path, rec: EndpointRecord) -> EndpointHealth:
    running = processes.is_server(rec.pid, server_dir(root, rec))
    ready = running and rec.port is not None and serving.is_ready(rec.port, rec.name)
    return EndpointHealth(running, ready)


def stop_endpoints(root: Path, state: LocalState) -> list[str]:
    """Stop every model server of the deployment; the keys of those that were running."""
    stopped: list[str] = []
    for key, rec in sorted(state.endpoints.items()):
        if rec.status not in ("serving", "starting", "failed"):
            continue
        if rec.pid and processes.is_server(rec.pid, server_dir(root, rec)):
            processes.stop(rec.pid)
            stopped.append(key)
        rec.pid = None
        rec.status = "stopped"
        rec.reason = "stopped by mlplat down"
    if state.features is not None:
        stop_feature_server(root, state.features)
    return stopped


def status_data(root: Path, state: LocalState) -> dict[str, Any]:
    """The state with each endpoint's live health, for `mlplat status --format json`."""
    data = state.model_dump(mode="json")
    for key, rec in state.endpoints.items():
        health = endpoint_health(root, rec)
        data["endpoints"][key].update(url=rec.url, running=health.running, ready=health.ready)
    data["state_dir"] = str(root)
    return data


def status_lines(root: Path, state: LocalState) -> list[str]:
    lines = [
        f"local deployment in {root} (environment '{state.environment}', "
        f"last deployed {state.deployed_at or 'never'})"
    ]
    rows: list[tuple[str, ...]] = []
    for key, p in sorted(state.pipelines.items()):
        if p.status == "skipped":
            rows.append((key, "skipped", p.reason or ""))
            continue
        run = p.last_run
        detail = f"run {run.run_id} ({run.started_at}, {run.seconds:.1f}s)" if run else ""
        if p.status != "succeeded" and p.last_success:
            detail += f"; last success {p.last_success.run_id}"
        rows.append((key, p.status, detail))
    lines += _table("pipelines", rows)
    rows = []
    for key, m in sorted(state.models.items()):
        latest = m.latest()
        if latest is None:
            rows.append((key, m.registry_name, "no version"))
            continue
        aliases = " ".join(f"@{a}" for a, v in sorted(m.aliases.items()) if v == latest.version)
        metrics = metrics_summary(latest.metrics, m.card_metrics)
        rows.append(
            (
                key,
                f"{m.registry_name} v{latest.version}",
                " ".join(x for x in (aliases, metrics) if x),
            )
        )
    lines += _table("models", rows)
    rows = []
    for key, e in sorted(state.endpoints.items()):
        if e.status in ("skipped", "failed"):
            rows.append((key, e.status, e.reason or ""))
            continue
        health = endpoint_health(root, e)
        status = health.label if e.status in ("serving", "starting") else e.status
        rows.append((key, status, f"{e.url}  ({e.registry_name} v{e.version})"))
    lines += _table("endpoints", rows)
    if state.monitoring:
        lines += _table("monitoring", monitoring_rows(state))
    return lines


def monitoring_rows(state: LocalState) -> list[tuple[str, ...]]:
    """Each monitored endpoint's last drift score, the version it was measured on, retraining."""
    rows: list[tuple[str, ...]] = []
    for key, m in sorted(state.monitoring.items()):
        score = "" if m.drift_share is None else f"drift score {m.drift_share:.2f}"
        if m.drifted_features:
            score += f" ({', '.join(m.drifted_features)})"
        last = m.history[-1] if m.history else None
        if m.drift_share is None and last is not None and last.drift_share is not None:
            score = f"last drift score {last.drift_share:.2f} on v{last.version}"
        parts = [score, f"serving v{m.version}" if m.version else "", f"checked {m.checked_at}"]
        if m.positive_rate is not None:
            parts.append(f"positive rate {m.positive_rate:.2f}")
        if m.latency_ms is not None:
            parts.append(f"latency {m.latency_ms:.1f} ms")
        if m.objectives_missed:
            parts.append(f"missed: {', '.join(m.objectives_missed)}")
        if m.retrain_started_at:
            parts.append(f"last retrained {m.retrain_started_at}: {m.retrain_result}")
        rows.append((key, m.status, "; ".join(p for p in parts if p)))
    return rows


def _table(title: str, rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return [f"{title}: none"]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    out = [f"{title}:"]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    return out


class DestroyRefused(Exception):
    pass


def destroy_check(folder: Path) -> tuple[Path, LocalState | None]:
    """The resolved state folder, if it is safe to remove; raises DestroyRefused otherwise."""
    problem = unsafe_state_dir(folder)
    if problem:
        raise DestroyRefused(problem)
    root = Path(folder).resolve()
    state = load_state(root / STATE_FILE)
    if state is None:
        foreign = sorted(p.name for p in root.iterdir() if p.name not in OWNED_ENTRIES)
        if foreign:
            raise DestroyRefused(
                f"{folder} has no mlplat state file and holds other files "
                f"({', '.join(foreign[:5])}); it does not look like a local deployment"
            )
    return root, state


def destroy(root: Path, state: LocalState | None) -> list[str]:
    """Stop the servers and remove what a local deploy created; names of what was left."""
    if state is not None:
        stop_endpoints(root, state)
        save_state(root / STATE_FILE, state)
    for name in OWNED_ENTRIES:
        path = root / name
        if path.is_symlink() or path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    left = sorted(p.name for p in root.iterdir())
    if not left:
        os.rmdir(root)
    return left
