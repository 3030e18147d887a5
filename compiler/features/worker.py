"""Feast's SDK in one long-lived process of the Feast virtualenv, driven by mlplat.

Feast cannot share mlplat's environment (it needs pandas < 3 and a newer starlette than
MLServer allows), and its command line costs about ten seconds of start-up per call. So the
local platform starts this script once with `.venv-feast/bin/python` and sends it requests,
one JSON object per line on a Unix socket, each answered by one line: `{"result": ...}` or
`{"error": "..."}`. Pipeline steps that need a training frame reach the same process.

    python worker.py rpc --repo DIR --socket PATH     # apply, materialize, joins, lookups
    python worker.py serve --repo DIR --port N        # Feast's HTTP feature server

It imports only the standard library and Feast: mlplat is not installed in that environment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class Worker:
    """The feature store of one compiled repository."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo.resolve()
        os.chdir(self.repo)
        if str(self.repo) not in sys.path:
            sys.path.insert(0, str(self.repo))
        self._store: Any = None

    def store(self) -> Any:
        from feast import FeatureStore

        if self._store is None:
            self._store = FeatureStore(repo_path=str(self.repo))
        return self._store

    def apply(self) -> dict[str, Any]:
        """`feast apply`: register the repository's definitions (removing what it no longer has)."""
        from feast.repo_operations import _get_repo_contents, apply_total_with_repo_instance

        store = self.store()
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            repo = _get_repo_contents(self.repo, store.config.project, store.config)
            apply_total_with_repo_instance(
                store, store.config.project, store.registry, repo, skip_source_validation=False
            )
        self._store = None
        return {
            "feature_views": sorted(v.name for v in repo.feature_views),
            "feature_services": sorted(s.name for s in repo.feature_services),
            "seconds": round(time.perf_counter() - started, 3),
        }

    def materialize(self, views: list[str], end: str | None = None) -> dict[str, Any]:
        """Copy the newest value of each entity, up to `end` (default now), into the online store."""
        store = self.store()
        started = time.perf_counter()
        end_date = datetime.fromisoformat(end) if end else datetime.now(UTC)
        with contextlib.redirect_stdout(sys.stderr):
            store.materialize(
                start_date=datetime(1970, 1, 1, tzinfo=UTC), end_date=end_date, feature_views=views
            )
        return {"views": views, "seconds": round(time.perf_counter() - started, 3)}

    def historical(self, service: str, entities: str, out: str) -> dict[str, Any]:
        """Point-in-time join of a service to the entity rows in `entities` (Parquet) into `out`."""
        import pandas as pd

        store = self.store()
        wanted = store.get_feature_service(service)
        rows = pd.read_parquet(entities)
        joined = store.get_historical_features(entity_df=rows, features=wanted).to_df()
        names = [f.name for p in wanted.feature_view_projections for f in p.features]
        keys = [c for c in rows.columns if c not in names]
        joined = joined[keys + names].sort_values(keys, kind="stable").reset_index(drop=True)
        joined.to_parquet(out, index=False)
        return {"features": names, "rows": len(joined)}

    def online(self, service: str, entities: dict[str, list[Any]]) -> dict[str, Any]:
        """The service's online values for the given join keys (the store read back)."""
        store = self.store()
        wanted = store.get_feature_service(service)
        keys = list(entities)
        rows = [
            dict(zip(keys, values, strict=True)) for values in zip(*entities.values(), strict=True)
        ]
        found: dict[str, Any] = store.get_online_features(
            features=wanted, entity_rows=rows
        ).to_dict()
        return found

    def handle(self, request: dict[str, Any]) -> Any:
        op = request.get("op")
        if op == "ping":
            return {"pid": os.getpid()}
        if op == "apply":
            return self.apply()
        if op == "materialize":
            return self.materialize(list(request["views"]), request.get("end"))
        if op == "historical":
            return self.historical(request["service"], request["entities"], request["out"])
        if op == "online":
            return self.online(request["service"], request["entities"])
        raise ValueError(f"unknown request {op!r}")


def serve_rpc(worker: Worker, path: str) -> None:
    """Answer requests one at a time (the SDK is not shared between threads) until 'stop'."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rw", encoding="utf-8") as stream:
            line = stream.readline()
            if not line:
                continue
            try:
                request = json.loads(line)
                if request.get("op") == "stop":
                    stream.write(json.dumps({"result": "stopping"}) + "\n")
                    stream.flush()
                    break
                reply: dict[str, Any] = {"result": worker.handle(request)}
            except Exception as exc:  # every failure goes back to the caller, with its cause
                traceback.print_exc(file=sys.stderr)
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            stream.write(json.dumps(reply, default=str) + "\n")
            stream.flush()
    server.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feast-worker")
    parser.add_argument("mode", choices=["rpc", "serve"])
    parser.add_argument("--repo", required=True, type=Path)
    parser.add_argument("--socket")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    worker = Worker(args.repo)
    if args.mode == "rpc":
        serve_rpc(worker, args.socket)
    else:
        # max_requests=0: gunicorn's default restarts the one worker every ~1,000 requests,
        # and a request that meets the restart is dropped (a broken pipe for the endpoint)
        worker.store().serve(
            host=HOST, port=args.port, no_access_log=True, registry_ttl_sec=5, max_requests=0
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
