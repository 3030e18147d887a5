"""Reading a kfp.local run as it happens: step progress, and the log tail of a failed step."""

from __future__ import annotations

from pathlib import Path

from compiler.deploy.local.pipelines import StepEvents, step_log_tail

# What kfp.local 2.17 prints for a run whose second step fails (abridged, colours kept).
FAILED_RUN = """\
[mlplat] tasks {"make-dataset": "make-dataset", "train-model": "train"}
07:36:37.170 - INFO - Running pipeline: \x1b[95m'fraud-train-fraud-model'\x1b[0m
--------------------------------------------------------------------------------
07:36:37.174 - INFO - Executing task \x1b[96m'make-dataset'\x1b[0m
07:36:37.174 - INFO - Streamed logs:

    [KFP Executor 2026-11-27 07:36:39,500 INFO]: Got executor_input:
    {"inputs": {}}
    made 4000 rows

07:36:39.976 - INFO - Task \x1b[96m'make-dataset'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
--------------------------------------------------------------------------------
07:36:39.977 - INFO - Executing task \x1b[96m'train-model'\x1b[0m
07:36:39.977 - INFO - Streamed logs:

    [KFP Executor 2026-11-27 07:36:41,500 INFO]: Got executor_input:
    {
        "inputs": {}
    }
    Traceback (most recent call last):
      File "<frozen runpy>", line 198, in _run_module_as_main
      File "/venv/lib/python3.11/site-packages/kfp/dsl/executor.py", line 453, in execute
        result = self.func(**func_kwargs)
      File "/tmp/tmp.Btd/ephemeral_component.py", line 21, in train_model
        raise ValueError("learning_rate must be positive")
    ValueError: learning_rate must be positive

07:36:41.976 - ERROR - Task \x1b[96m'train-model'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m
"""


def test_step_events_follow_the_run() -> None:
    seen: list[tuple[str, ...]] = []
    events = StepEvents(
        on_start=lambda step: seen.append(("start", step)),
        on_finish=lambda step, status, _took: seen.append(("finish", step, status)),
    )
    for line in FAILED_RUN.splitlines(keepends=True):
        events.feed(line)
    assert seen == [
        ("start", "make-dataset"),
        ("finish", "make-dataset", "SUCCESS"),
        ("start", "train"),
        ("finish", "train", "FAILURE"),
    ]
    assert events.statuses == {"make-dataset": "SUCCESS", "train": "FAILURE"}
    assert events.tasks == {"make-dataset": "make-dataset", "train-model": "train"}


def test_the_tail_of_a_failed_step_is_its_traceback(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(FAILED_RUN)
    tail = step_log_tail(log, "train", {"train-model": "train"})
    assert tail == [
        "Traceback (most recent call last):",
        '  File "/tmp/tmp.Btd/ephemeral_component.py", line 21, in train_model',
        '    raise ValueError("learning_rate must be positive")',
        "ValueError: learning_rate must be positive",
    ]


def test_the_tail_without_a_traceback_is_the_steps_output(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(FAILED_RUN.split("    Traceback")[0])
    tail = step_log_tail(log, "make-dataset", {})
    assert tail[-1] == "made 4000 rows"
    assert not any("INFO - " in line for line in tail)


def test_a_missing_log_has_no_tail(tmp_path: Path) -> None:
    assert step_log_tail(tmp_path / "none.log", "train", {}) == []


def _with_gpu(pipeline, step_name: str, gpus: int, pool: str):  # type: ignore[no-untyped-def]
    step = pipeline.steps[step_name]
    resources = step.resources.model_copy(update={"gpu": gpus})
    steps = {
        **pipeline.steps,
        step_name: step.model_copy(update={"resources": resources, "node_pool": pool}),
    }
    return pipeline.model_copy(update={"steps": steps})


def test_a_gpu_step_is_told_its_request_does_not_apply_locally(example_ir) -> None:  # type: ignore[no-untyped-def]
    from compiler.deploy.local.pipelines import placement_note

    ir = example_ir("local").ir
    fraud = ir.teams["fraud"].pipelines["train-fraud-model"]
    assert placement_note(fraud) is None
    assert placement_note(ir.teams["recsys"].pipelines["train-ranker"]) == (
        "note: GPU requests and node pools do not apply in local: step 'train' (1 GPU, node "
        "pool 'gpu-a10g') run on this machine's CPUs"
    )
    both = _with_gpu(_with_gpu(fraud, "train", 2, "gpu-a100"), "evaluate", 1, "gpu-t4")
    assert placement_note(both) == (
        "note: GPU requests and node pools do not apply in local: steps 'train' (2 GPUs, node "
        "pool 'gpu-a100'), 'evaluate' (1 GPU, node pool 'gpu-t4') run on this machine's CPUs"
    )


def test_a_local_run_says_it_once(example_ir, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io

    from compiler.cli import Console
    from compiler.deploy.local import deploy
    from compiler.deploy.local.layout import StateLayout
    from compiler.deploy.local.report import Reporter
    from compiler.deploy.local.state import LocalState, RunRecord

    ir = example_ir("local").ir
    pipeline = _with_gpu(ir.teams["fraud"].pipelines["train-fraud-model"], "train", 1, "gpu-a10g")

    def ran(**kwargs):  # type: ignore[no-untyped-def]
        return RunRecord(
            run_id="r1",
            status="succeeded",
            started_at="2026-01-01T00:00:00+00:00",
            seconds=1.0,
            pipeline_hash=kwargs["pipeline_hash"],
            spec_hash="s",
            runner="subprocess",
            root="r",
            log="l",
        )

    monkeypatch.setattr(deploy, "run_pipeline", ran)
    err = io.StringIO()
    console = Console(out=io.StringIO(), err=err)
    session = deploy.LocalDeploy(
        ir,
        StateLayout.at(tmp_path, ir),
        LocalState(environment="local"),
        Reporter(console),
        tmp_path / "ir.json",
    )
    session.deploy_pipeline(pipeline)
    session.deploy_pipeline(pipeline)  # unchanged: no run, nothing said
    lines = err.getvalue().splitlines()
    notes = [line for line in lines if "do not apply in local" in line]
    assert notes == [
        "  note: GPU requests and node pools do not apply in local: step 'train' (1 GPU, "
        "node pool 'gpu-a10g') run on this machine's CPUs"
    ], lines
