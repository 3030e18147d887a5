"""Run a python step as a local data-parallel job: torchrun, one node, N processes, gloo.

A distributed step compiled for the local target calls this module where a python step
calls kfp's executor (`python3 -m kfp.dsl.executor_main ...`); the rest of the component
(the shipped function source, the executor input kfp.local fills in) is unchanged:

    python -m compiler.deploy.local.ddp --nproc-per-node 2 --backend gloo \
        --executor kfp.dsl.executor_main -- <executor args>

starts `torchrun --standalone --nnodes 1 --nproc_per_node 2` of this module in rank mode;
every rank runs kfp's executor on the same function and inputs, so the team's code sees
the usual torchrun environment (RANK, WORLD_SIZE, MASTER_ADDR, ...; MLPLAT_DIST_BACKEND).
Only rank 0 reports outputs to kfp: the other ranks' executor output goes to a private
file, so their (identical) return values never race with rank 0's.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
import tempfile

BACKEND_ENV = "MLPLAT_DIST_BACKEND"


def _rank(executor: str, args: list[str]) -> int:
    if int(os.environ.get("RANK", "0")) == 0:
        sys.argv = [executor, *args]
        runpy.run_module(executor, run_name="__main__", alter_sys=True)
        return 0
    index = args.index("--executor_input") + 1
    executor_input = json.loads(args[index])
    with tempfile.TemporaryDirectory(prefix=f"mlplat-rank{os.environ['RANK']}-") as private:
        executor_input.setdefault("outputs", {})["outputFile"] = os.path.join(
            private, "executor_output.json"
        )
        sys.argv = [executor, *args[:index], json.dumps(executor_input), *args[index + 1 :]]
        runpy.run_module(executor, run_name="__main__", alter_sys=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--rank"]:
        return _rank(argv[1], argv[3:])
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="python -m compiler.deploy.local.ddp")
    parser.add_argument("--nproc-per-node", type=int, required=True)
    parser.add_argument("--backend", choices=("gloo", "nccl"), default="gloo")
    parser.add_argument("--executor", default="kfp.dsl.executor_main", help="module each rank runs")
    opts = parser.parse_args(argv[:split])
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc_per_node",
        str(opts.nproc_per_node),
        "-m",
        "compiler.deploy.local.ddp",
        "--rank",
        opts.executor,
        "--",
        *argv[split + 1 :],
    ]
    env = {**os.environ, BACKEND_ENV: opts.backend}
    print(f"[mlplat] torchrun: {opts.nproc_per_node} processes, backend {opts.backend}", flush=True)
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
