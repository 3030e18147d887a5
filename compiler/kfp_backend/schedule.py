"""Recurring runs: a spec's cron schedule as the definition that deploy creates in Kubeflow.

The file's `recurring_run` keys are the keyword arguments of
`kfp.Client.create_recurring_run` (minus the experiment id, which deploy resolves from
`experiment`), so a deploy step can pass them on unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

from compiler.ir import Pipeline
from compiler.kfp_backend.problems import Problem, pipeline_path

TIMEZONE = "UTC"
_CRON_EXTENSIONS = re.compile(r"[LW#]")
"""croniter accepts L, W and # (last day, nearest weekday, nth weekday); Kubeflow's
scheduler (robfig/cron) does not."""


def _day_of_week(field: str) -> str:
    """Sunday may be written 7 in standard cron; Kubeflow's scheduler only knows 0."""
    parts = []
    for part in field.split(","):
        if part == "7":
            part = "0"
        elif (m := re.fullmatch(r"([0-6])-7", part)) is not None:
            part = f"{m.group(1)}-6,0"
        parts.append(part)
    return ",".join(parts)


def kfp_cron(cron: str) -> str:
    """Five-field cron (minute first) → Kubeflow's six fields (seconds first)."""
    minute, hour, day, month, weekday = cron.split()
    return " ".join(["0", minute, hour, day, month, _day_of_week(weekday)])


def schedule_problems(pipeline: Pipeline) -> list[Problem]:
    if pipeline.schedule is None or not _CRON_EXTENSIONS.search(pipeline.schedule.cron.upper()):
        return []
    return [
        Problem(
            "E107",
            f"cron '{pipeline.schedule.cron}' of pipeline '{pipeline.name}' uses L, W or #, "
            "which the Kubeflow Pipelines scheduler does not support",
            pipeline_path(pipeline, "schedule", "cron"),
            "use plain fields: numbers, names, '*', ',', '-' and '/'",
        )
    ]


def recurring_run(pipeline: Pipeline, package_path: str) -> dict[str, Any]:
    """The recurring-run definition of a scheduled pipeline (`package_path` is build-relative)."""
    schedule = pipeline.schedule
    assert schedule is not None
    return {
        "experiment": {"name": pipeline.name, "namespace": pipeline.namespace},
        "recurring_run": {
            "job_name": f"{pipeline.name}-schedule",
            "description": f"{pipeline.team}/{pipeline.name} on cron '{schedule.cron}' ({TIMEZONE})",
            "cron_expression": kfp_cron(schedule.cron),
            "max_concurrency": schedule.max_concurrency,
            "no_catchup": True,
            "enabled": schedule.enabled,
            "params": dict(sorted(schedule.parameters.items())),
            "pipeline_package_path": package_path,
            "service_account": pipeline.service_account,
        },
        "schedule": {"cron": schedule.cron, "timezone": TIMEZONE},
    }


def recurring_run_json(pipeline: Pipeline, package_path: str) -> str:
    return json.dumps(recurring_run(pipeline, package_path), indent=2, sort_keys=True) + "\n"
