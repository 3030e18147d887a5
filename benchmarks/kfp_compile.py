"""Compile cost of the KFP backend, per pipeline: dsl build vs kfp compile.

Usage: .venv/bin/python benchmarks/kfp_compile.py [--env prod] [--repeats 15] [--copies 100]
       .venv/bin/python benchmarks/kfp_compile.py --org DIR [--teams 100]

For each pipeline of the example organisation it reports the median over `--repeats`
runs of: resolving the steps (importing team code, making components and checking them),
assembling the kfp pipeline (dsl graph and task settings), and kfp's compile to YAML.
Then it compiles `--copies` synthetic copies of the organisation's pipelines in one
`compile_all` call and reports the total and the cost per pipeline.

Python components are made once per process (compiler/kfp_backend/python_steps.py), so
repeated runs measure the shared path. With `--org` (a configs folder, e.g. from benchmarks/generate_org.py) it instead compiles
the pipelines of the first `--teams` teams once each, cold, as a fresh `mlplat plan` does,
and reports the CPU time per pipeline of each phase.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compiler.frontend import load_platform  # noqa: E402
from compiler.ir import Pipeline, PlatformIR  # noqa: E402


def _median_ms(func: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def per_pipeline(ir: PlatformIR, repeats: int) -> list[dict[str, Any]]:
    from compiler.kfp_backend.compile import to_yaml
    from compiler.kfp_backend.pipeline import assemble, resolve_steps

    rows = []
    for pipeline in sorted(ir.pipelines(), key=lambda p: (p.team, p.name)):
        resolve_ms, (components, problems) = _median_ms(partial(resolve_steps, pipeline), repeats)
        assert not problems, problems
        assemble_ms, graph = _median_ms(partial(assemble, ir, pipeline, components), repeats)
        compile_ms, text = _median_ms(partial(to_yaml, graph), repeats)
        rows.append(
            {
                "pipeline": f"{pipeline.team}/{pipeline.name}",
                "steps": len(pipeline.steps),
                "resolve_ms": round(resolve_ms, 2),
                "assemble_ms": round(assemble_ms, 2),
                "build_ms": round(resolve_ms + assemble_ms, 2),
                "compile_ms": round(compile_ms, 2),
                "total_ms": round(resolve_ms + assemble_ms + compile_ms, 2),
                "yaml_bytes": len(text.encode()),
            }
        )
    return rows


def with_copies(ir: PlatformIR, copies: int) -> PlatformIR:
    """The IR with `copies` renamed copies of every pipeline, in each pipeline's own team."""
    teams = {}
    for name, team in ir.teams.items():
        pipelines: dict[str, Pipeline] = dict(team.pipelines)
        for original in team.pipelines.values():
            for index in range(copies):
                copy_name = f"{original.name}-copy-{index:04d}"
                pipelines[copy_name] = original.model_copy(update={"name": copy_name})
        teams[name] = team.model_copy(update={"pipelines": pipelines})
    return ir.model_copy(update={"teams": teams})


def synthetic(ir: PlatformIR, copies: int) -> dict[str, Any]:
    from compiler.kfp_backend import compile_all
    from compiler.kfp_backend.compile import to_yaml
    from compiler.kfp_backend.pipeline import assemble, resolve_steps

    big = with_copies(ir, copies)
    pipelines = sorted(big.pipelines(), key=lambda p: (p.team, p.name))
    build = compile_ = 0.0
    for pipeline in pipelines:
        started = time.perf_counter()
        components, _ = resolve_steps(pipeline)
        graph = assemble(big, pipeline, components)
        middle = time.perf_counter()
        to_yaml(graph)
        build += middle - started
        compile_ += time.perf_counter() - middle
    started = time.perf_counter()
    files, diagnostics = compile_all(big, lambda _path: None)
    total = time.perf_counter() - started
    assert not diagnostics
    count = len(pipelines)
    return {
        "pipelines": count,
        "files": len(files),
        "compile_all_s": round(total, 3),
        "per_pipeline_ms": round(total / count * 1000, 2),
        "build_ms_per_pipeline": round(build / count * 1000, 2),
        "compile_ms_per_pipeline": round(compile_ / count * 1000, 2),
    }


def cold_org(configs: Path, teams: int) -> dict[str, Any]:
    """CPU ms per pipeline of one cold compile of the first `teams` teams' pipelines."""
    from compiler.cli import tune_gc
    from compiler.kfp_backend.compile import to_yaml
    from compiler.kfp_backend.pipeline import assemble, resolve_steps
    from compiler.plan.sharded import with_teams

    ir = load_platform(configs).ir
    if ir is None:
        raise SystemExit(f"{configs}: the organisation does not validate")
    small = with_teams(ir, sorted(ir.teams)[:teams])
    tune_gc()
    spent = {"resolve": 0.0, "assemble": 0.0, "to_yaml": 0.0}
    pipelines = sorted(small.pipelines(), key=lambda p: (p.team, p.name))
    for pipeline in pipelines:
        started = time.process_time()
        components, problems = resolve_steps(pipeline)
        assert not problems, problems
        resolved = time.process_time()
        graph = assemble(small, pipeline, components)
        assembled = time.process_time()
        to_yaml(graph)
        spent["resolve"] += resolved - started
        spent["assemble"] += assembled - resolved
        spent["to_yaml"] += time.process_time() - assembled
    count = len(pipelines)
    result: dict[str, Any] = {"teams": len(small.teams), "pipelines": count}
    result.update({f"{k}_ms": round(v / count * 1000, 2) for k, v in spent.items()})
    result["total_ms"] = round(sum(spent.values()) / count * 1000, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="prod")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--copies", type=int, default=100, help="synthetic copies per pipeline")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--org", type=Path, help="a configs folder: cold compile of its teams")
    parser.add_argument("--teams", type=int, default=100, help="with --org: the first N teams")
    args = parser.parse_args(argv)
    if args.org is not None:
        cold = cold_org(args.org, args.teams)
        if args.json:
            print(json.dumps(cold, indent=2))
        else:
            print(
                f"{cold['pipelines']} pipelines of {cold['teams']} teams, cold, CPU ms per "
                f"pipeline: resolve {cold['resolve_ms']:.2f} + assemble {cold['assemble_ms']:.2f}"
                f" + to_yaml {cold['to_yaml_ms']:.2f} = {cold['total_ms']:.2f}"
            )
        return 0

    started = time.perf_counter()
    import kfp  # noqa: F401  (its import cost is reported separately)

    import_s = time.perf_counter() - started
    result = load_platform(REPO / "configs", [f"env={args.env}"])
    if result.ir is None:
        print("\n".join(d.render() for d in result.diagnostics), file=sys.stderr)
        return 1
    rows = per_pipeline(result.ir, args.repeats)
    big = synthetic(result.ir, args.copies)
    if args.json:
        print(
            json.dumps(
                {"import_kfp_s": round(import_s, 3), "pipelines": rows, "synthetic": big}, indent=2
            )
        )
        return 0
    print(f"import kfp: {import_s:.2f} s; env {args.env}; median of {args.repeats} runs (ms)")
    header = f"{'pipeline':34} {'steps':>5} {'resolve':>8} {'assemble':>8} {'build':>8} {'compile':>8} {'total':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['pipeline']:34} {row['steps']:>5} {row['resolve_ms']:>8.2f} "
            f"{row['assemble_ms']:>8.2f} {row['build_ms']:>8.2f} {row['compile_ms']:>8.2f} "
            f"{row['total_ms']:>8.2f}"
        )
    print(
        f"\nsynthetic: {big['pipelines']} pipelines ({args.copies} copies of each) in "
        f"{big['compile_all_s']:.2f} s via compile_all = {big['per_pipeline_ms']:.2f} ms per "
        f"pipeline (build {big['build_ms_per_pipeline']:.2f} ms + compile "
        f"{big['compile_ms_per_pipeline']:.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
