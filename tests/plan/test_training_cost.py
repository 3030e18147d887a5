"""The plan prices training per run: a distributed job as workers x node price x deadline,
a sweep at most as trials x one trial; neither is added to the monthly total."""

from __future__ import annotations

from decimal import Decimal

from compiler.plan.cost import estimate
from schemas.catalog import INSTANCE_TYPES


def test_the_job_and_the_sweep_are_priced_per_run(example_ir) -> None:
    ir = example_ir("prod").ir
    node = max(INSTANCE_TYPES[t].hourly_usd for t in ("m6i.2xlarge", "m7i.2xlarge"))
    lines = estimate(ir).by_item()
    job = lines[("training", "forecast/train-forecaster step train")]
    assert job.min_usd == job.max_usd == 2 * node * 1  # 2 workers, whole nodes, 1h deadline
    sweep = lines[("training", "forecast/tune-forecaster sweep")]
    share = max(Decimal(1000) / Decimal(8000), Decimal(2) / Decimal(32))  # 1 CPU, 2Gi of 8/32
    trial = share * node * Decimal("0.5")  # 30m deadline
    assert sweep.min_usd == trial and sweep.max_usd == 8 * trial
    assert not job.counted and not sweep.counted


def test_elastic_jobs_are_priced_at_both_bounds(example_ir) -> None:
    from compiler.plan.training_cost import run_cost

    ir = example_ir("local").ir
    step = ir.teams["forecast"].pipelines["train-forecaster"].steps["train"]
    pool = ir.node_pools[step.node_pool]
    assert run_cost(step, pool, 4) == 2 * run_cost(step, pool, 2)


def test_training_is_not_in_the_monthly_total(example_ir) -> None:
    cost = estimate(example_ir("prod").ir)
    counted = sum(
        (line.max_usd for line in cost.lines if line.group not in ("endpoints", "training")),
        Decimal(0),
    )
    assert cost.total_max == counted
