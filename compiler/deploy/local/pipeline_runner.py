"""Run one pipeline of the IR with kfp.local, in a process of its own.

`mlplat deploy` starts this module as a child process: the child owns kfp.local's global
configuration and the step processes, its output is the run's log, and an interrupted
deploy stops it (and its steps) as one process group. The result (status, outputs of
every step) is written as JSON to --result.

    python -m compiler.deploy.local.pipeline_runner --ir build/local/ir.json \
        --team fraud --pipeline train-fraud-model --pipeline-root DIR --result FILE
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

TASKS_MARKER = "[mlplat] tasks "
KFP_RETURN_OUTPUT = "Output"


def _step_tasks(pipeline_spec: Any, step_names: set[str]) -> dict[str, tuple[str, str]]:
    """IR step → (kfp task name, folder of its outputs) from the compiled pipeline spec."""
    mapping: dict[str, tuple[str, str]] = {}
    for key, task in pipeline_spec.root.dag.tasks.items():
        component = task.component_ref.name
        folder = component[len("comp-") :] if component.startswith("comp-") else component
        display = task.task_info.name
        step = display if display in step_names else key if key in step_names else None
        if step is not None:
            mapping[step] = (key, folder)
    return mapping


def _read_outputs(task_root: Path) -> dict[str, dict[str, Any]] | None:
    """Artifacts (uri + metadata) and parameter values a finished step wrote."""
    try:
        data = json.loads((task_root / "executor_output.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    outputs: dict[str, dict[str, Any]] = {}
    for name, value in (data.get("parameterValues") or {}).items():
        outputs[name] = {"uri": "", "metadata": {"value": value}}
    for name, listing in (data.get("artifacts") or {}).items():
        artifacts = listing.get("artifacts") or []
        if artifacts:
            outputs[name] = {
                "uri": artifacts[0].get("uri", ""),
                "metadata": artifacts[0].get("metadata") or {},
            }
    return outputs


def _by_ir_name(outputs: dict[str, Any], declared: list[str]) -> dict[str, Any]:
    """Outputs under the step's declared names (kfp calls a plain return value 'Output')."""
    missing = [name for name in declared if name not in outputs]
    if len(missing) == 1 and KFP_RETURN_OUTPUT in outputs:
        outputs = {**outputs, missing[0]: outputs[KFP_RETURN_OUTPUT]}
        del outputs[KFP_RETURN_OUTPUT]
    return outputs


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kfp import local

    from compiler.deploy.local.pipelines import run_arguments
    from compiler.ir import PlatformIR
    from compiler.kfp_backend import build_pipeline
    from compiler.team_packages import code_root_at

    ir = PlatformIR.model_validate_json(Path(args.ir).read_text(encoding="utf-8"))
    pipeline = ir.teams[args.team].pipelines[args.pipeline]
    root = Path(args.pipeline_root)
    root.mkdir(parents=True, exist_ok=True)

    with code_root_at(args.code_root):  # where the deploy read the steps' code
        pipeline_func = build_pipeline(ir, pipeline)
    tasks = _step_tasks(pipeline_func.pipeline_spec, set(pipeline.steps))
    print(TASKS_MARKER + json.dumps({t[0]: step for step, t in tasks.items()}), flush=True)

    runner: Any = (
        local.DockerRunner() if args.runner == "docker" else local.SubprocessRunner(use_venv=False)
    )
    local.init(runner=runner, pipeline_root=str(root), raise_on_error=True)
    if pipeline.tuning is not None:
        from compiler.deploy.local.tuning import sweep

        base = run_arguments(pipeline)
        return sweep(
            pipeline,
            lambda values: run_once(pipeline_func, {**base, **values}, root, tasks, pipeline),
        )
    return run_once(pipeline_func, run_arguments(pipeline), root, tasks, pipeline)


def run_once(
    pipeline_func: Any,
    arguments: dict[str, Any],
    root: Path,
    tasks: dict[str, tuple[str, str]],
    pipeline: Any,
) -> dict[str, Any]:
    """One kfp.local run of the pipeline: status, its folder and every step's outputs."""
    before = {p.name for p in root.iterdir()}
    result: dict[str, Any] = {"status": "succeeded", "message": None}
    try:
        pipeline_func(**arguments)
    except Exception as exc:  # a failed step surfaces as an exception from kfp.local
        result = {"status": "failed", "message": str(exc).splitlines()[0] if str(exc) else ""}
    created = sorted(p for p in root.iterdir() if p.name not in before and p.is_dir())
    run_dir = created[-1] if created else None
    result["kfp_run"] = run_dir.name if run_dir else None
    steps: dict[str, Any] = {}
    for step, (_, folder) in tasks.items():
        outputs = _read_outputs(run_dir / folder) if run_dir else None
        named = _by_ir_name(outputs or {}, list(pipeline.steps[step].outputs))
        steps[step] = {"done": outputs is not None, "outputs": named}
    result["steps"] = steps
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compiler.deploy.local.pipeline_runner")
    parser.add_argument("--ir", required=True)
    parser.add_argument("--team", required=True)
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--pipeline-root", required=True)
    parser.add_argument("--runner", choices=("subprocess", "docker"), default="subprocess")
    parser.add_argument("--result", required=True)
    parser.add_argument("--code-root", required=True, help="the folder holding components/")
    args = parser.parse_args(argv)
    result = run(args)
    tmp = Path(args.result + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, args.result)
    return 0 if result["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
