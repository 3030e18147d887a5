"""Run a pipeline's sweep on this machine with Optuna: every trial is a real kfp.local run.

The search space, objective, algorithm and trial count are the spec's (`tuning:`); the
pipeline's own defaults are enqueued as the first trial, so the sweep reports how much the
best trial beats them. Trials run one after the other (kfp.local keeps its configuration
in the process; in the cluster Katib runs `parallel_trials` at once), and early stopping
is Katib's: a trial here is one opaque pipeline run with no intermediate values to prune.
The result is the best trial's run (its outputs are what gets registered) plus a `tuning`
section with every trial.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from compiler.ir import Pipeline
from schemas.training import Categorical, FloatRange, IntRange, TuningSpec

TRIAL_MARKER = "[mlplat] trial "


def objective_value(tuning: TuningSpec, result: dict[str, Any]) -> float | None:
    """The objective metric a run reported: a float output, or a metric of a Metrics output."""
    outputs = (result.get("steps") or {}).get(tuning.objective.step, {}).get("outputs") or {}
    metric = tuning.objective.metric
    candidates = [outputs[metric]["metadata"].get("value")] if metric in outputs else []
    candidates += [out.get("metadata", {}).get(metric) for out in outputs.values()]
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def _sampler(tuning: TuningSpec) -> Any:
    import optuna

    if tuning.algorithm == "random":
        return optuna.samplers.RandomSampler(seed=tuning.seed)
    if tuning.algorithm == "grid":
        grid: dict[str, list[Any]] = {}
        for name, space in tuning.search_space.items():
            if isinstance(space, IntRange):
                grid[name] = list(range(space.min, space.max + 1))
            elif isinstance(space, Categorical):
                grid[name] = list(space.values)
        return optuna.samplers.GridSampler(grid, seed=tuning.seed)
    return optuna.samplers.TPESampler(seed=tuning.seed, n_startup_trials=min(4, tuning.trials))


def _suggest(trial: Any, tuning: TuningSpec) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, space in tuning.search_space.items():
        if isinstance(space, FloatRange):
            values[name] = trial.suggest_float(name, space.min, space.max, log=space.log)
        elif isinstance(space, IntRange):
            values[name] = trial.suggest_int(name, space.min, space.max, log=space.log)
        else:
            values[name] = trial.suggest_categorical(name, list(space.values))
    return values


def _defaults_in_space(pipeline: Pipeline, tuning: TuningSpec) -> dict[str, Any]:
    """The pipeline's defaults of the sampled parameters that lie inside the search space."""
    found: dict[str, Any] = {}
    for name, space in tuning.search_space.items():
        default = pipeline.parameters[name].default
        if default is None:
            continue
        if isinstance(space, Categorical):
            if default in space.values:
                found[name] = default
        elif space.min <= default <= space.max:
            found[name] = default
    return found


def sweep(pipeline: Pipeline, run: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Run the sweep; the best trial's run result with every trial under `tuning`."""
    import optuna

    tuning = pipeline.tuning
    assert tuning is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction=tuning.objective.direction,
        sampler=_sampler(tuning),
        study_name=f"{pipeline.team}/{pipeline.name}",
    )
    defaults = _defaults_in_space(pipeline, tuning)
    if len(defaults) == len(tuning.search_space):
        study.enqueue_trial(defaults, user_attrs={"default": True})
    trials: list[dict[str, Any]] = []
    results: dict[int, dict[str, Any]] = {}
    failed = 0
    started = time.monotonic()
    for _ in range(tuning.trials):
        trial = study.ask()
        values = _suggest(trial, tuning)
        began = time.monotonic()
        result = run(values)
        value = objective_value(tuning, result) if result["status"] == "succeeded" else None
        entry = {
            "number": trial.number,
            "params": values,
            "value": value,
            "status": "succeeded" if value is not None else "failed",
            "default": bool(trial.user_attrs.get("default")),
            "seconds": round(time.monotonic() - began, 2),
            "kfp_run": result.get("kfp_run"),
            "message": result.get("message"),
        }
        trials.append(entry)
        print(TRIAL_MARKER + json.dumps(entry, sort_keys=True), flush=True)
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            failed += 1
            if failed > tuning.max_failed_trials:
                break
            continue
        study.tell(trial, value)
        results[trial.number] = result
    done = [t for t in trials if t["value"] is not None]
    summary: dict[str, Any] = {
        "objective": tuning.objective.model_dump(mode="json"),
        "algorithm": tuning.algorithm,
        "trials": trials,
        "seconds": round(time.monotonic() - started, 2),
    }
    if not done:
        last = trials[-1] if trials else {}
        return {
            "status": "failed",
            "message": f"every trial of the sweep failed (last: {last.get('message')})",
            "kfp_run": last.get("kfp_run"),
            "steps": {},
            "tuning": summary,
        }
    best = study.best_trial
    default = next((t for t in trials if t["default"]), None)
    summary["best"] = next(t for t in trials if t["number"] == best.number)
    summary["default"] = default
    chosen = results[best.number]
    return {**chosen, "tuning": summary}
