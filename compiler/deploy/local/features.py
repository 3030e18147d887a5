"""The feature store of the local platform: Feast, driven in its own virtualenv.

The compiled repository (`build/<env>/features/`) is copied to `<state>/features/repo/`
with the teams' source files under `sources/`; Feast keeps its registry and SQLite online
store in `repo/data/`. A deploy applies the repository only when it changed and
materializes only the views whose definition or source data changed, through one process
of the Feast virtualenv (`compiler/features/worker.py`) that pipeline steps also use for
their training frames. Endpoints that name a feature service read from Feast's feature
server, a background process on 127.0.0.1 like the model servers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import select
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.cache import REPO
from compiler.deploy.local import processes
from compiler.deploy.local.ports import HOST
from compiler.features.online import V2_DATATYPES
from compiler.features.repo import REPO_DIR
from compiler.ir import PlatformIR
from compiler.ir_features import FeatureSource

if TYPE_CHECKING:
    from compiler.deploy.local.deploy import LocalDeploy
    from compiler.deploy.local.state import FeatureStoreRecord, ModelVersionRecord
    from compiler.ir import Endpoint

FEAST_VENV = REPO / ".venv-feast"
WORKER_SCRIPT = Path(__file__).resolve().parents[2] / "features" / "worker.py"
WORKER_ENV = "MLPLAT_FEAST_WORKER"
REPO_ENV = "MLPLAT_FEATURE_REPO"
"""Where the publish steps of sources written by pipelines put their rows."""
START_TIMEOUT = 120.0
CALL_TIMEOUT = 600.0


class FeatureStoreError(Exception):
    def __init__(self, message: str, hint: str | None = None, tail: list[str] | None = None):
        super().__init__(message)
        self.hint = hint
        self.tail = tail or []


class PortTaken(FeatureStoreError):
    """Another program bound the feature server's port between the check and the bind."""


PORT_IN_USE = re.compile(r"address already in use|Errno 98|Errno 48", re.IGNORECASE)


def feast_python() -> Path:
    """The Feast virtualenv's interpreter (MLPLAT_FEAST_PYTHON overrides)."""
    override = os.environ.get("MLPLAT_FEAST_PYTHON")
    python = Path(override) if override else FEAST_VENV / "bin" / "python"
    if not python.exists():
        raise FeatureStoreError(
            f"the Feast environment is not installed ({python} is missing)",
            "run `make feast` (or `make install`) to create .venv-feast",
        )
    return python


def store_dir(state_root: Path) -> Path:
    return state_root / "features"


def repo_dir(state_root: Path) -> Path:
    return store_dir(state_root) / "repo"


def _tail(log: Path, lines: int = 12) -> list[str]:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


@dataclass
class FeastWorker:
    """One long-lived process of the Feast virtualenv answering JSON-lines requests."""

    repo: Path
    log: Path
    socket_path: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.socket_path = self.repo.parent / "worker.sock"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [
                    *(str(feast_python()), str(WORKER_SCRIPT), "rpc"),
                    *("--repo", str(self.repo), "--socket", str(self.socket_path)),
                ],
                stdout=subprocess.PIPE,
                stderr=sink,
                stdin=subprocess.DEVNULL,
                env=processes.child_env(),
                start_new_session=True,
            )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT)
        line = self.process.stdout.readline() if ready else b""
        if not line.startswith(b'{"ready": true'):
            self.close()
            raise FeatureStoreError(
                "the Feast process did not start", f"see {self.log}", _tail(self.log)
            )

    def call(self, op: str, **args: Any) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(CALL_TIMEOUT)
            conn.connect(str(self.socket_path))
            conn.sendall((json.dumps({"op": op, **args}) + "\n").encode())
            line = conn.makefile("r", encoding="utf-8").readline()
        reply = json.loads(line) if line else {"error": "the Feast process closed the connection"}
        if "error" in reply:
            raise FeatureStoreError(
                f"feast {op} failed: {reply['error']}", f"see {self.log}", _tail(self.log)
            )
        return reply["result"]

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(OSError, json.JSONDecodeError, FeatureStoreError):
                self.call("stop")
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                processes.stop(process.pid, timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()


def source_bytes(source: FeatureSource, repo: Path) -> bytes | None:
    """The rows of a source as the store reads them (Parquet): the repository's file (CSV
    converted), or what the last run of its writing step published; None before that."""
    if source.written_by is not None:
        published = repo / source.uri
        return published.read_bytes() if published.is_file() else None
    if source.path.endswith(".csv"):
        import io

        import pyarrow.parquet as pq

        from compiler.source_files import read_source_table

        buffer = io.BytesIO()
        pq.write_table(read_source_table(str(REPO / source.path)), buffer)
        return buffer.getvalue()
    return (REPO / source.path).read_bytes()


def view_hashes(ir: PlatformIR, repo: Path) -> dict[str, str | None]:
    """Feast view name → hash of what its online values depend on: its definition, its
    entity and the bytes of its source file; None while a step has not written its source."""
    hashes: dict[str, str | None] = {}
    for team in ir.teams.values():
        sources = {s.feast_name: s for s in team.sources.values()}
        for view in team.feature_views.values():
            source = sources[view.source]
            data = source_bytes(source, repo)
            hashes[view.feast_name] = (
                None
                if data is None
                else _digest(view.model_dump(mode="json"), source.model_dump(mode="json"), data)
            )
    return dict(sorted(hashes.items()))


def sync_repo(ir: PlatformIR, compiled: Path, target: Path) -> str:
    """Make `target` hold the compiled repository and the source files; its hash."""
    target.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, bytes] = {
        p.name: p.read_bytes() for p in sorted(compiled.iterdir()) if p.is_file()
    }
    published: set[str] = set()  # written by pipeline steps: kept as they are
    for team in ir.teams.values():
        for source in team.sources.values():
            if source.written_by is not None:
                published.add(source.uri)
            else:
                data = source_bytes(source, target)
                assert data is not None
                wanted[source.uri] = data
    for existing in target.glob("*.py"):
        if existing.name not in wanted:
            existing.unlink()
    sources = target / "sources"
    if sources.exists():
        for existing in sorted(sources.rglob("*")):
            rel = existing.relative_to(target).as_posix()
            if existing.is_file() and rel not in wanted and rel not in published:
                existing.unlink()
    for rel, data in wanted.items():
        path = target / rel
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return _digest(sorted((rel, hashlib.sha256(d).hexdigest()) for rel, d in wanted.items()))


def compiled_repo(build_dir: Path, environment: str) -> Path:
    return build_dir / environment / REPO_DIR


# -- the feature server -------------------------------------------------------------------


def start_feature_server(repo: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Feast's HTTP feature server on 127.0.0.1:`port`, in its own session."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        return subprocess.Popen(
            [
                *(str(feast_python()), str(WORKER_SCRIPT), "serve"),
                *("--repo", str(repo), "--port", str(port)),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=processes.child_env(),
            start_new_session=True,
        )


def server_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def is_feature_server(pid: int | None, repo: Path) -> bool:
    """Whether `pid` is alive and is the feature server started for `repo`."""
    if not pid or not processes.is_alive(pid):
        return False
    cmd = processes.command_line(pid)
    return cmd is not None and WORKER_SCRIPT.name in cmd and f"serve --repo {repo}" in cmd


def wait_ready(
    process: subprocess.Popen[bytes], port: int, log: Path, timeout: float, offset: int = 0
) -> None:
    """Until the server answers on `port`; PortTaken when what it logged since `offset` says
    that the port was taken, FeatureStoreError when it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with contextlib.suppress(OSError), log.open("rb") as written:
                written.seek(offset)
                if PORT_IN_USE.search(written.read().decode("utf-8", "replace")):
                    raise PortTaken(f"port {port} was taken by another program", None, _tail(log))
            raise FeatureStoreError(
                f"the feature server exited with status {process.returncode}",
                f"see {log}",
                _tail(log),
            )
        if server_ready(port):
            return
        time.sleep(0.2)
    processes.stop(process.pid, timeout=5)
    raise FeatureStoreError(
        f"the feature server did not become ready within {timeout:.0f}s", f"see {log}", _tail(log)
    )


def remove_store(state_root: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(store_dir(state_root))


# -- what a deploy does ---------------------------------------------------------------------


class FeatureDeploy:
    """The feature store steps of one local deploy (see LocalDeploy.run)."""

    def __init__(self, session: LocalDeploy, build_dir: Path) -> None:
        self.session = session
        self.build_dir = build_dir
        self.root = session.layout.root
        self.repo = repo_dir(self.root)
        self.worker: FeastWorker | None = None
        self.failed = False
        self._saved_env: dict[str, str | None] = {}
        self._url: tuple[str | None] | None = None

    def __enter__(self) -> FeatureDeploy:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _set_env(self, name: str, value: str) -> None:
        """Set a variable for the steps this deploy runs (restored when it ends)."""
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def problem(self, code: str, exc: FeatureStoreError, at: tuple[str, ...] = ()) -> None:
        from compiler.diagnostics import Span, error

        self.failed = True
        notes = (
            ("last lines of the log:\n" + "\n".join(f"      | {line}" for line in exc.tail),)
            if exc.tail
            else ()
        )
        span = self.session.out.span(list(at)) if at else Span(str(self.repo))
        self.session.out.problem(error(code, str(exc), span, exc.hint, *notes))

    def _joins_will_run(self) -> bool:
        from compiler.deploy.local.hashing import pipeline_hash

        state = self.session.state
        for pipeline in self.session.ir.pipelines():
            if not any(s.feature_service for s in pipeline.steps.values()):
                continue
            rec = state.pipelines.get(f"{pipeline.team}/{pipeline.name}")
            if rec is None or rec.status != "succeeded" or rec.hash != pipeline_hash(pipeline):
                return True
        return False

    def _worker(self) -> FeastWorker:
        if self.worker is None:
            self.session.out.progress("starting Feast (its own virtualenv) ...")
            self.worker = FeastWorker(self.repo, store_dir(self.root) / "worker.log")
            self.worker.start()
        return self.worker

    def deploy_store(self) -> None:
        """Apply the repository if it changed; materialize the views that changed."""
        from compiler.deploy.local.state import FeatureStoreRecord, now

        session, ir = self.session, self.session.ir
        if ir.feature_store is None:
            if session.state.features is not None:
                self.stop_server()
                session.state.features = None
                remove_store(self.root)
                session.out.step("features: no team declares features; store removed")
                session.changes.append("removed the feature store")
            return
        if not any(e.feature_service for e in ir.endpoints()):
            self.stop_server()
        rec = session.state.features or FeatureStoreRecord()
        try:
            repo_hash = sync_repo(ir, compiled_repo(self.build_dir, ir.environment), self.repo)
            hashes = view_hashes(ir, self.repo)
            online = {v.feast_name for v in ir.feature_views() if v.online}
            changed = [
                v
                for v, h in hashes.items()
                if h is not None and rec.views.get(v) != h and v in online
            ]
            self._set_env(REPO_ENV, str(self.repo))  # for the steps that publish sources
            apply = rec.repo_hash != repo_hash
            joins = self._joins_will_run()
            if not (apply or changed or joins):
                return
            if apply:
                started = time.monotonic()
                result = self._worker().call("apply")
                session.out.step(
                    f"features: applied the Feast repository ({len(result['feature_views'])} "
                    f"views, {len(result['feature_services'])} services) in "
                    f"{time.monotonic() - started:.1f}s"
                )
                rec.repo_hash, rec.applied_at = repo_hash, now()
                session.changes.append("applied the feature store")
            if changed:
                started = time.monotonic()
                self._worker().call("materialize", views=changed)
                names = ", ".join(changed)
                session.out.step(
                    f"features: materialized {names} in {time.monotonic() - started:.1f}s"
                )
                session.changes.append(f"materialized {names}")
            # every view is now materialized from what it is, but those whose source a step
            # has yet to write (materialized after the pipeline that writes it)
            rec.views = {v: h for v, h in hashes.items() if h is not None}
            session.state.features = rec
            session.save()
            if joins:
                self._set_env(WORKER_ENV, str(self._worker().socket_path))
        except FeatureStoreError as exc:
            self.problem("E312", exc)

    def materialize_published(self) -> None:
        """After the pipelines: materialize the views whose source a step published anew."""
        from compiler.deploy.local.state import FeatureStoreRecord

        session, ir = self.session, self.session.ir
        rec = session.state.features
        if ir.feature_store is None or rec is None or self.failed:
            return
        written = {
            s.feast_name for t in ir.teams.values() for s in t.sources.values() if s.written_by
        }
        if not written:
            return
        try:
            hashes = view_hashes(ir, self.repo)
            changed = [
                v.feast_name
                for v in ir.feature_views()
                if v.online
                and v.source in written
                and hashes[v.feast_name] is not None
                and rec.views.get(v.feast_name) != hashes[v.feast_name]
            ]
            if not changed:
                return
            started = time.monotonic()
            self._worker().call("materialize", views=changed)
            names = ", ".join(changed)
            session.out.step(
                f"features: materialized {names} (published by a pipeline) in "
                f"{time.monotonic() - started:.1f}s"
            )
            session.changes.append(f"materialized {names}")
            rec.views = {**rec.views, **{v: h for v in changed if (h := hashes[v])}}
            session.state.features = FeatureStoreRecord.model_validate(rec.model_dump())
            session.save()
        except FeatureStoreError as exc:
            self.problem("E312", exc)

    def server_url(self) -> str | None:
        """The feature server's URL, started (or restarted after an apply) when needed; asked
        once per deploy."""
        if self._url is None:
            self._url = (self._server_url(),)
        return self._url[0]

    def _server_url(self) -> str | None:
        from compiler.deploy.local.ports import NoFreePort, allocate_ports
        from compiler.deploy.local.state import FeatureStoreRecord

        session = self.session
        if not any(e.feature_service for e in session.ir.endpoints()):
            self.stop_server()
            return None
        rec = session.state.features or FeatureStoreRecord()
        if self.failed or not rec.repo_hash:
            return None
        running = is_feature_server(rec.server_pid, self.repo) and rec.server_port is not None
        if running and rec.server_repo_hash == rec.repo_hash and server_ready(rec.server_port or 0):
            return f"http://{HOST}:{rec.server_port}"
        self.stop_server()
        reserved = {p for e in session.state.endpoints.values() for p in (e.port, e.grpc_port) if p}
        preferred = [rec.server_port] if rec.server_port else []
        log = store_dir(self.root) / "feature-server.log"
        started = time.monotonic()
        try:
            for attempt in (1, 2):
                (port,) = allocate_ports(1, preferred=preferred, reserved=reserved)
                offset = log.stat().st_size if log.exists() else 0
                process = start_feature_server(self.repo, port, log)
                rec.server_pid, rec.server_port = process.pid, port
                session.state.features = rec
                session.save()
                try:
                    wait_ready(process, port, log, START_TIMEOUT, offset)
                    break
                except PortTaken:
                    if attempt == 2:
                        raise
                    # Another program took the port since it was checked: pick another once.
                    session.out.step(f"features: port {port} was taken; retrying")
                    preferred, reserved = [], {*reserved, port}
        except NoFreePort as exc:
            self.problem("E313", FeatureStoreError(str(exc), "stop other local servers"))
            return None
        except FeatureStoreError as exc:
            rec.server_pid = None
            self.problem("E313", exc)
            return None
        rec.server_repo_hash = rec.repo_hash
        session.save()
        url = f"http://{HOST}:{port}"
        session.out.step(
            f"features: feature server ready at {url} in {time.monotonic() - started:.1f}s"
        )
        session.changes.append("started the feature server")
        return url

    def stop_server(self) -> None:
        rec = self.session.state.features
        if rec is not None:
            stop_feature_server(self.root, rec)


def stop_feature_server(state_root: Path, rec: FeatureStoreRecord) -> bool:
    """Stop the recorded feature server if it runs; whether it did."""
    running = is_feature_server(rec.server_pid, repo_dir(state_root))
    if running and rec.server_pid:
        processes.stop(rec.server_pid)
    rec.server_pid = None
    return running


def entity_request(
    ir: PlatformIR, endpoint: Endpoint, version: ModelVersionRecord
) -> dict[str, Any] | None:
    """A V2 request for an endpoint with a feature service: one entity, keys only (the first
    key of the first view's source file), and an example of each request value its on-demand
    views take (1 for numbers, "x" for strings)."""
    service = endpoint.feature_service
    if service is None:
        return None
    import pyarrow.parquet as pq

    def shipped(view_team: str, view_name: str) -> FeatureSource | None:
        team = ir.teams[view_team]
        view = team.feature_views.get(view_name)
        found = [s for s in team.sources.values() if view and s.feast_name == view.source]
        return found[0] if found and found[0].path.endswith(".parquet") else None

    sources = (shipped(f.view_team, f.view_name) for f in service.features)
    source = next((s for s in sources if s is not None), None)
    keys = (
        pq.read_table(REPO / source.path, columns=list(service.join_keys)).slice(0, 1)
        if source is not None
        else None
    )
    request: dict[str, Any] = {
        "inputs": [
            {
                "name": key,
                "shape": [1],
                "datatype": "INT64" if kind == "int64" else "BYTES",
                "data": keys.column(key).to_pylist()
                if keys is not None
                else (["x"] if kind == "string" else [1]),
            }
            for key, kind in service.join_keys.items()
        ]
        + [
            {
                "name": name,
                "shape": [1],
                "datatype": V2_DATATYPES[kind],
                "data": ["x"] if kind == "string" else [1],
            }
            for name, kind in service.request_fields.items()
        ]
    }
    if "predict_proba" in version.outputs:
        request["outputs"] = [{"name": "predict_proba"}]
    return request
