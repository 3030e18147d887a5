"""Online feature lookup latency on the local platform: N requests to Feast's feature server
(one card each) and N entity-only V2 requests to the endpoint that reads them.

    python benchmarks/feature_lookup.py [--state-dir .mlplat/local] [-n 1000]

Needs a deployed local environment with an endpoint that names a feature service.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from pathlib import Path

from compiler.deploy.local.serving import infer
from compiler.deploy.local.state import load_state
from compiler.features.online import fetch_online


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:.2f} ms, p99 {cuts[98] * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, default=Path(".mlplat/local"))
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()
    state = load_state(args.state_dir / "state.json")
    assert state is not None and state.features is not None, "deploy first"
    server = f"http://127.0.0.1:{state.features.server_port}"
    endpoint = next(e for e in state.endpoints.values() if e.request and e.status == "serving")
    assert endpoint.url and endpoint.request
    key = endpoint.request["inputs"][0]["name"]
    first = int(endpoint.request["inputs"][0]["data"][0])
    with urllib.request.urlopen(f"{server}/health", timeout=5):
        pass
    service = json.loads((args.state_dir.resolve() / (endpoint.server_dir or "") / endpoint.name
                          / "model-settings.json").read_text())["parameters"]["extra"]["feature_service"]  # fmt: skip
    lookups, predictions = [], []
    for i in range(args.n):
        card = first + i % 120
        started = time.perf_counter()
        fetch_online(server, service, {key: [card]})
        lookups.append(time.perf_counter() - started)
        request = {
            **endpoint.request,
            "inputs": [{**endpoint.request["inputs"][0], "data": [card]}],
        }
        started = time.perf_counter()
        infer(endpoint.url, request)
        predictions.append(time.perf_counter() - started)
    print(f"feature server lookup, {args.n} requests: {percentiles(lookups)}")
    print(
        f"endpoint (entity id -> features -> model), {args.n} requests: {percentiles(predictions)}"
    )


if __name__ == "__main__":
    main()
