"""What training at scale costs per run: each distributed job, and each sweep at most.

A distributed job is priced as its workers x the hourly price of a node of its pool x the
step's timeout (its deadline): every worker counted as a whole node, an upper bound. A
sweep's most is its trials x the cost of one trial (the objective step, as Katib runs it:
that job, or one pod priced by its share of a node). Lines are per run, so they are shown
next to the monthly estimate and not added to it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from compiler.ir import NodePool, PlatformIR, ResolvedResources, Step
from schemas.types import format_duration

if TYPE_CHECKING:
    from compiler.plan.cost import CostLine


def node_share(res: ResolvedResources, pool: NodePool) -> Decimal:
    """The fraction of one node a pod with these requests takes: its largest share of CPU,
    memory or GPUs (a step's pod, an endpoint's replica)."""
    shares = [
        Decimal(res.cpu) / Decimal(pool.vcpu_per_node * 1000),
        Decimal(res.memory) / Decimal(pool.memory_gib_per_node * 2**30),
    ]
    if res.gpu and pool.gpus_per_node:
        shares.append(Decimal(res.gpu) / Decimal(pool.gpus_per_node))
    return min(max(shares), Decimal(1))


def run_cost(step: Step, pool: NodePool, workers: int | None = None) -> Decimal:
    """Upper bound of one run of the step: whole nodes per worker, or a pod's share of one."""
    hours = Decimal(step.timeout_seconds) / Decimal(3600)
    if step.distributed is not None:
        count = workers if workers is not None else step.distributed.max_workers
        return Decimal(count) * pool.hourly_usd_per_node * hours
    return node_share(step.resources, pool) * pool.hourly_usd_per_node * hours


def training_lines(ir: PlatformIR) -> list[CostLine]:
    from compiler.plan.cost import CostLine

    lines: list[CostLine] = []
    for pipeline in sorted(ir.pipelines(), key=lambda p: (p.team, p.name)):
        where = f"{pipeline.team}/{pipeline.name}"
        for name in pipeline.order:
            step = pipeline.steps[name]
            pool = ir.node_pools.get(step.node_pool)
            if step.distributed is None or pool is None:
                continue
            job = step.distributed
            lines.append(
                CostLine(
                    "training",
                    f"{where} step {name}",
                    run_cost(step, pool, job.min_workers),
                    run_cost(step, pool, job.max_workers),
                    f"per run: {job.max_workers} workers x {pool.name} node x "
                    f"{format_duration(step.timeout_seconds)} deadline",
                )
            )
        tuning = pipeline.tuning
        if tuning is None:
            continue
        step = pipeline.steps[tuning.objective.step]
        pool = ir.node_pools.get(step.node_pool)
        if pool is None:
            continue
        trial = run_cost(step, pool)
        lines.append(
            CostLine(
                "training",
                f"{where} sweep",
                trial,
                trial * tuning.trials,
                f"per sweep: 1 to {tuning.trials} trials of step {step.name} "
                f"({tuning.parallel_trials} at a time)",
            )
        )
    return lines
