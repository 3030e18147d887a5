"""Latency cost of payload logging on a local endpoint: p50/p99 with and without it.

Serves the deployed fraud model twice (two MLServer processes: one plain, one behind the
payload logger, fsync per request), warms both up, then sends the same single-row requests to
each in turn and reports client-side latency percentiles. Needs `mlplat deploy` first.

    .venv/bin/python benchmarks/payload_logging.py [--requests 1000] [--state-dir .mlplat/local]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compiler.deploy.local import payload_log, processes, serving
from compiler.deploy.local.ports import allocate_ports
from compiler.deploy.local.state import load_state


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--state-dir", default=".mlplat/local")
    parser.add_argument("--model", default="fraud/fraud-classifier")
    args = parser.parse_args()
    state = load_state(Path(args.state_dir) / "state.json")
    model = state.models.get(args.model) if state else None
    version = model.latest() if model else None
    if version is None:
        print(f"no registered version of {args.model}: run mlplat deploy first", file=sys.stderr)
        return 1
    request = serving.example_request(version)
    assert request is not None
    rng = np.random.default_rng(0)
    Path("build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path("build").resolve()) as tmp:  # the state disk
        ports = allocate_ports(4)
        servers = {}
        for index, mode in enumerate(("plain", "logged")):
            folder = Path(tmp) / mode
            logs = payload_log.PayloadLog(Path(tmp) / "payloads") if mode == "logged" else None
            serving.write_server_folder(
                folder,
                endpoint="bench",
                runtime="sklearn",
                version=version,
                port=ports[2 * index],
                grpc_port=ports[2 * index + 1],
                payloads=logs,
            )
            servers[mode] = (
                serving.start_server(folder, Path(tmp) / f"{mode}.log"),
                ports[2 * index],
            )
        try:
            deadline = time.monotonic() + 90
            while not all(serving.is_ready(port, "bench") for _, port in servers.values()):
                if time.monotonic() > deadline:
                    print("servers did not start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            urls = {m: f"http://127.0.0.1:{p}/v2/models/bench" for m, (_, p) in servers.items()}
            times: dict[str, list[float]] = {m: [] for m in servers}
            for i in range(args.requests + 50):
                for inp in request["inputs"]:
                    inp["data"] = [float(rng.random() * 100)]
                for mode, url in list(urls.items()) if i % 2 else list(urls.items())[::-1]:
                    started = time.perf_counter()
                    serving.infer(url, request)
                    if i >= 50:
                        times[mode].append((time.perf_counter() - started) * 1000)
            logged = len(payload_log.read_records(Path(tmp) / "payloads"))
        finally:
            for process, _ in servers.values():
                processes.stop(process.pid, timeout=5)
    result = {
        mode: {
            "p50_ms": round(float(np.percentile(t, 50)), 2),
            "p99_ms": round(float(np.percentile(t, 99)), 2),
            "mean_ms": round(statistics.fmean(t), 2),
        }
        for mode, t in times.items()
    }
    result["requests"] = {"per_mode": args.requests, "logged_records": logged}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
