"""Experiment tracking of sweeps: every trial becomes an MLflow run nested under its sweep.

The sweep's run is the pipeline run the registry records (the best trial's outputs); each
trial is a child run (`mlflow.parentRunId`) with its parameters, the objective's value and
its state, so `mlflow ui` shows the whole search grouped under the team's experiment.
"""

from __future__ import annotations

import time
from typing import Any

from compiler.deploy.local.state import RunRecord


def log_trials(
    client: Any, experiment: str, parent: str, run: RunRecord, lineage: dict[str, str]
) -> list[str]:
    """One child run per trial of the run's sweep; their MLflow run ids."""
    from mlflow.entities import Metric, Param

    tuning = run.tuning or {}
    objective = (tuning.get("objective") or {}).get("metric", "objective")
    best = (tuning.get("best") or {}).get("number")
    created: list[str] = []
    stamp = int(time.time() * 1000)
    for trial in tuning.get("trials") or []:
        tags = {
            **lineage,
            "mlflow.parentRunId": parent,
            "mlplat.trial": str(trial["number"]),
            "mlplat.trial_default": str(bool(trial.get("default"))).lower(),
            "mlplat.trial_best": str(trial["number"] == best).lower(),
        }
        if trial.get("kfp_run"):
            tags["mlplat.kfp_run"] = str(trial["kfp_run"])
        child = client.create_run(
            experiment, run_name=f"{run.run_id}-trial-{trial['number']}", tags=tags
        )
        child_id = str(child.info.run_id)
        params = [Param(k, str(v)) for k, v in sorted((trial.get("params") or {}).items())]
        metrics = [Metric("trial_seconds", float(trial.get("seconds") or 0.0), stamp, 0)]
        if trial.get("value") is not None:
            metrics.append(Metric(objective, float(trial["value"]), stamp, 0))
        client.log_batch(child_id, metrics=metrics, params=params)
        client.set_terminated(child_id, "FINISHED" if trial.get("value") is not None else "FAILED")
        created.append(child_id)
    return created
