"""Local training of the example's forecast team: a data-parallel step with 1 vs 2 processes,
and the team's sweep.

    .venv/bin/python benchmarks/training_local.py [--repeats 3] [--procs 1 2]

1. **distributed step**: a fresh interpreter runs one kfp.local pipeline (subprocess runner,
   no venv, a new pipeline root each time), as tests/deploy/test_distributed_local.py does:
   `make_series` as a plain lightweight component (n_series 24, window 14, seed 11) feeding
   `train_forecaster` (learning_rate 0.01, hidden 32, epochs 4: configs/teams/forecast.yaml)
   wrapped by `torchrun_component`, so its executor runs under torchrun with N processes,
   gloo, on the CPU. The time is the pipeline call in that interpreter (both steps, imports
   of the interpreter excluded); val_mse and world_size come from the train step's metrics.
2. **sweep**: pipeline forecast/tune-forecaster (8 trials, Optuna TPE) of the example's IR
   (`load_platform(configs, ["env=local"])`), run by `run_pipeline` of
   compiler/deploy/local/pipelines.py, the function `mlplat deploy` calls: it starts
   compiler/deploy/local/pipeline_runner.py, which builds the pipeline and runs
   compiler/deploy/local/tuning.py's `sweep`, each trial a real kfp.local run. The state
   folder is a temporary one; nothing is registered (no MLflow, no endpoints). The time is
   the whole `run_pipeline` call (runner start-up and pipeline build included); the sweep's
   own figure (`tuning.seconds`) is shown beside it. Locally the trials run one after the
   other whatever `parallel_trials` says (see tuning.py).

Inputs are the spec's defaults and seeds, so every round computes the same thing. Each cell
is the median of `--repeats` rounds (min-max in brackets), wall-clock seconds; the
process counts alternate within each round, and the ratio column is the median (min-max)
of each round's ratio, so it compares runs made side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compiler.deploy.local.layout import StateLayout  # noqa: E402
from compiler.deploy.local.pipelines import StepEvents, run_pipeline  # noqa: E402
from compiler.frontend import load_platform  # noqa: E402
from compiler.ir import PlatformIR  # noqa: E402
from compiler.team_packages import code_beside  # noqa: E402
from tests.helpers import run_fresh_python  # noqa: E402

TEAM, SWEEP = "forecast", "tune-forecaster"

DISTRIBUTED = """
import json, sys, time
from pathlib import Path
from types import SimpleNamespace
from kfp import dsl, local
from compiler.ir_training import DistributedJob
from compiler.kfp_backend.distributed import torchrun_component
from compiler.kfp_backend.steps import StepComponent
from components.forecast.data import make_series
from components.forecast.train import train_forecaster

root, procs = Path(sys.argv[1]), int(sys.argv[2])
job = DistributedJob(framework="pytorch", workers=1, procs_per_worker=procs,
                     backend="gloo", min_workers=1, max_workers=1)
series = dsl.component(make_series)
train = torchrun_component(SimpleNamespace(distributed=job),
                           StepComponent(dsl.component(train_forecaster), {})).component

@dsl.pipeline(name="train-forecaster")
def forecaster() -> None:
    data = series(n_series=24, window=14, seed=11)
    train(dataset=data.outputs["dataset"], learning_rate=0.01, hidden=32, epochs=4)

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
           raise_on_error=True)
started = time.perf_counter()
forecaster()
seconds = time.perf_counter() - started
(output,) = [p for p in root.glob("*/*/executor_output.json") if "Output" in
             json.loads(p.read_text()).get("parameterValues", {})]
done = json.loads(output.read_text())
metrics = done["artifacts"]["metrics"]["artifacts"][0]["metadata"]
print(json.dumps({"seconds": seconds, "val_mse": done["parameterValues"]["Output"],
                  "world_size": metrics["world_size"]}))
"""


def distributed_run(root: Path, procs: int) -> dict[str, Any]:
    """One kfp.local run of make-series → train under torchrun with `procs` processes."""
    root.mkdir(parents=True)
    try:
        found = run_fresh_python(DISTRIBUTED, str(root), str(procs), timeout=900)
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(exc.stdout + exc.stderr)
        raise SystemExit(f"the distributed run with {procs} processes failed") from None
    if found["world_size"] != procs:
        raise SystemExit(f"asked for {procs} processes, the step ran with {found['world_size']}")
    return found


def sweep_run(ir: PlatformIR, ir_file: Path, state_dir: Path) -> dict[str, Any]:
    """The sweep as `mlplat deploy` runs it: `run_pipeline` in a fresh state folder."""
    pipeline = ir.teams[TEAM].pipelines[SWEEP]
    assert pipeline.tuning is not None
    layout = StateLayout.at(state_dir, ir)
    started = time.perf_counter()
    with code_beside(REPO / "configs"):
        record = run_pipeline(
            pipeline=pipeline,
            runner="subprocess",
            ir_file=ir_file,
            layout=layout,
            pipeline_hash="benchmark",
            spec_hash=ir.spec_hash(),
            events=StepEvents(on_start=lambda _: None, on_finish=lambda *_: None),
        )
    seconds = time.perf_counter() - started
    tuning = record.tuning or {}
    trials = tuning.get("trials", [])
    if record.status != "succeeded" or any(t["status"] != "succeeded" for t in trials):
        log = layout.root / record.log
        sys.stderr.write(log.read_text(encoding="utf-8") if log.exists() else "")
        raise SystemExit(f"the sweep failed: {record.message} (trials: {trials})")
    if len(trials) != pipeline.tuning.trials:
        raise SystemExit(f"the sweep ran {len(trials)} trials, not {pipeline.tuning.trials}")
    return {
        "seconds": seconds,
        "sweep_seconds": tuning["seconds"],
        "best": tuning["best"]["value"],
        "best_params": tuning["best"]["params"],
        "trials": len(trials),
    }


def cell(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} ({min(samples):.2f}-{max(samples):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    result = load_platform(REPO / "configs", ["env=local"])
    if not result.ok or result.ir is None:
        print("\n".join(d.render() for d in result.diagnostics), file=sys.stderr)
        return 1
    train: dict[int, list[dict[str, Any]]] = {p: [] for p in args.procs}
    sweeps: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-training-") as tmp:
        folder = Path(tmp)
        # Child processes make temporary folders of their own and leave them (kfp's
        # `mktemp -d` per step, torchrun's logs, ddp.py's rank folders): keep them in ours.
        os.environ["TMPDIR"] = tmp
        ir_file = folder / "ir.json"
        ir_file.write_text(result.ir.canonical_json(), encoding="utf-8")
        for round_ in range(args.repeats):
            for procs in args.procs:
                found = distributed_run(folder / f"train-{round_}-{procs}", procs)
                train[procs].append(found)
                print(
                    f"round {round_ + 1}: train, {procs} proc: {found['seconds']:.2f} s, "
                    f"val_mse {found['val_mse']:.5f}",
                    file=sys.stderr,
                )
            found = sweep_run(result.ir, ir_file, folder / f"state-{round_}")
            sweeps.append(found)
            print(
                f"round {round_ + 1}: sweep: {found['seconds']:.2f} s, best {found['best']:.5f} "
                f"{found['best_params']}",
                file=sys.stderr,
            )
    total = time.perf_counter() - started
    first = args.procs[0]
    print(f"{args.repeats} rounds, wall-clock seconds, median (min-max); total {total:.0f} s\n")
    print(f"| measurement | seconds | ÷ {first} proc | val_mse |")
    print("|---|---|---|---|")
    for procs in args.procs:
        seconds = [r["seconds"] for r in train[procs]]
        ratios = [
            r["seconds"] / b["seconds"] for r, b in zip(train[procs], train[first], strict=True)
        ]
        mses = sorted({f"{r['val_mse']:.5f}" for r in train[procs]})
        print(
            f"| {TEAM} make-series → train, {procs} proc{'s' * (procs != 1)} (torchrun, gloo) "
            f"| {cell(seconds)} | {cell(ratios)} | {', '.join(mses)} |"
        )
    bests = sorted({f"{r['best']:.5f}" for r in sweeps})
    print(
        f"| {TEAM}/{SWEEP} sweep, {sweeps[0]['trials']} trials (run_pipeline) "
        f"| {cell([r['seconds'] for r in sweeps])} | - | best {', '.join(bests)} |"
    )
    print(
        f"| of which the sweep itself (tuning.seconds) "
        f"| {cell([r['sweep_seconds'] for r in sweeps])} | - | - |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
