"""Time of one drift check of 10k logged requests: read the payload log, read the reference,
compare the fraud endpoint's five monitored features (the code `mlplat monitor` runs).

    .venv/bin/python benchmarks/drift_check.py [--requests 10000]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compiler.deploy.local import payload_log
from compiler.deploy.local.drift import check
from compiler.deploy.local.monitor import read_reference
from schemas.monitoring import FeatureMonitor

FEATURES = {
    "amount": FeatureMonitor(method="ks"),
    "merchant_risk": FeatureMonitor(method="psi", threshold=0.2),
    "distance_km": FeatureMonitor(method="wasserstein"),
    "hour": FeatureMonitor(method="chi2"),
    "foreign": FeatureMonitor(method="chi2"),
}


def rows(n: int, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "amount": round(float(rng.lognormal(3.5, 1.0)), 2),
            "hour": int(rng.integers(0, 24)),
            "merchant_risk": float(rng.beta(2, 8)),
            "distance_km": round(float(rng.exponential(20)), 1),
            "card_age_days": int(rng.integers(1, 3650)),
            "tx_last_24h": int(rng.poisson(3)),
            "foreign": int(rng.random() < 0.1),
        }
        for _ in range(n)
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()
    Path("build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path("build").resolve()) as tmp:
        reference = Path(tmp) / "dataset.csv"
        ref_rows = rows(4000, 7)
        with reference.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(ref_rows[0]))
            writer.writeheader()
            writer.writerows(ref_rows)
        logs = Path(tmp) / "payloads"
        log = payload_log.PayloadWriter(logs)
        started = time.perf_counter()
        for row in rows(args.requests, 8):
            log.append(
                {
                    "version": "1",
                    "inputs": {k: [v] for k, v in row.items()},
                    "outputs": {"predict_proba": {"shape": [1, 2], "data": [0.9, 0.1]}},
                }
            )
        log.close()
        written = time.perf_counter() - started
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            ref = read_reference(reference, list(FEATURES))
            records = payload_log.read_records(logs, last=args.requests)
            current = payload_log.rows(records)
            result = check(FEATURES, ref, current)
            timings.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "requests": args.requests,
                "append_fsync_per_request_ms": round(written / args.requests * 1000, 3),
                "check_seconds_median": round(sorted(timings)[1], 3),
                "drift_share": result.drift_share,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
