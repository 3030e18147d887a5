"""Send the fraud endpoint requests drawn from its training data, shifted or not.

Rows are drawn (with replacement) from the Dataset of the last successful training run; with
`--shift`, `amount` is multiplied by 1.8 and `merchant_risk` raised by 0.25, as if the
payment mix changed. For trying `mlplat monitor` by hand (README, Monitoring).

    .venv/bin/python benchmarks/fraud_traffic.py [--requests 200] [--shift] [--state-dir .mlplat/local]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

from compiler.deploy.local import serving
from compiler.deploy.local.state import load_state


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--shift", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state-dir", default=".mlplat/local")
    args = parser.parse_args()
    state = load_state(Path(args.state_dir) / "state.json")
    pipeline = state.pipelines.get("fraud/train-fraud-model") if state else None
    run = pipeline.last_success if pipeline else None
    endpoint = state.endpoints.get("fraud/fraud-scorer") if state else None
    if run is None or endpoint is None or endpoint.url is None:
        print("the fraud endpoint is not deployed here: run make deploy first", file=sys.stderr)
        return 1
    with open(run.outputs["make-dataset"]["dataset"].uri, newline="") as handle:
        rows = [
            {k: float(v) for k, v in row.items() if k not in ("split", "is_fraud")}
            for row in csv.DictReader(handle)
        ]
    rng = random.Random(args.seed)
    flagged = 0
    for row in rng.choices(rows, k=args.requests):
        if args.shift:
            row = {**row, "amount": round(row["amount"] * 1.8, 2)}
            row["merchant_risk"] = min(1.0, row["merchant_risk"] + 0.25)
        request = {
            "parameters": {"content_type": "pd"},
            "inputs": [
                {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in row.items()
            ],
            "outputs": [{"name": "predict_proba"}],
        }
        answer = serving.infer(endpoint.url, request)
        flagged += answer["outputs"][0]["data"][1] >= 0.5
    print(
        f"sent {args.requests} {'shifted ' if args.shift else ''}requests to {endpoint.url} "
        f"(v{endpoint.version}); {flagged} scored as fraud"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
