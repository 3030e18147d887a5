"""Baseline checks of monitored endpoints (S72x), on the plan: payloads are logged, the
payload sink and drift jobs reach only their own prefix, and every monitored endpoint has its
drift job, restricted and without the default service account token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compiler.ir import Endpoint
from compiler.policy.findings import Rule, Violation
from compiler.policy.plan_view import PlanView, as_list, describe, dig, policy_statements

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

RULES = (
    Rule(
        "S721",
        "payload-logging",
        "monitored endpoint does not log its payloads",
        "The InferenceService of a monitored endpoint logs every request and response "
        "(predictor.logger mode 'all') to its team's payload sink.",
    ),
    Rule(
        "S722",
        "payload-access-scope",
        "payload sink or drift job reaches beyond its prefix",
        "The payload sink may only put objects under `<team>/payloads/` of the logs bucket; a "
        "drift job may only list and read its endpoint's payload prefix and read the team's "
        "pipeline root (decrypting through S3 only).",
    ),
    Rule(
        "S723",
        "drift-job",
        "monitored endpoint without its drift job",
        "Every monitored endpoint has a drift CronJob in its team namespace, running as its "
        "own service account, without the default service account token.",
    ),
)


def _path(endpoint: Endpoint) -> tuple[str, ...]:
    return ("teams", endpoint.team, "endpoints", endpoint.name, "monitoring")


def check(view: PlanView) -> Iterator[Violation]:
    policies = {p.name: p for p in view.of_type(ROLE_POLICY)}
    for endpoint in view.ir.endpoints():
        mon = endpoint.monitoring
        if mon is None:
            continue
        who = f"endpoint '{endpoint.name}'"
        path = _path(endpoint)
        if endpoint.runtime != "custom":
            for obj in view.named("InferenceService", endpoint.name):
                if obj.namespace != endpoint.namespace:
                    continue
                logger = dig(obj.manifest, "spec", "predictor", "logger") or {}
                url = str(logger.get("url", "")) if isinstance(logger, dict) else ""
                sink = f"http://payload-sink.{endpoint.namespace}.svc.cluster.local/"
                if logger.get("mode") != "all" or not url.startswith(sink):
                    yield Violation(
                        "S721",
                        who,
                        f"its InferenceService logs {logger.get('mode') or 'nothing'} "
                        f"to '{url or 'nowhere'}', not every request to its team's payload sink",
                        path,
                        describe(obj.resource),
                    )
        bucket = view.ir.buckets[mon.payload_bucket].physical_name
        logs = f"arn:aws:s3:::{bucket}"
        allowed: dict[str, tuple[set[str], tuple[str, ...]]] = {
            f"{endpoint.team}-payload-sink": (
                {"s3:PutObject"},
                (f"{logs}/{endpoint.team}/payloads/",),
            ),
            f"{endpoint.team}-{mon.drift_job}": (
                {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"},
                (
                    f"{logs}/{mon.payload_prefix}",
                    f"/{endpoint.team}/pipeline-root/",
                    "arn:aws:kms:",
                ),
            ),
        }
        for name, (actions, prefixes) in allowed.items():
            policy = policies.get(name)
            if policy is None:
                continue
            for problem in _beyond(policy.inputs.get("policy"), actions, prefixes, logs):
                yield Violation("S722", who, problem, path, describe(policy))
        jobs = [
            obj
            for obj in view.named("CronJob", mon.drift_job)
            if obj.namespace == endpoint.namespace
        ]
        if not jobs:
            yield Violation(
                "S723", who, f"no drift CronJob '{mon.drift_job}' in {endpoint.namespace}", path
            )
        for job in jobs:
            pod = dig(job.manifest, "spec", "jobTemplate", "spec", "template", "spec") or {}
            if pod.get("serviceAccountName") != mon.drift_service_account:
                yield Violation(
                    "S723",
                    who,
                    f"its drift job runs as '{pod.get('serviceAccountName')}', not "
                    f"'{mon.drift_service_account}'",
                    path,
                    describe(job.resource),
                )
            if pod.get("automountServiceAccountToken") is not False:
                yield Violation(
                    "S723",
                    who,
                    "its drift job mounts the default service account token",
                    path,
                    describe(job.resource),
                )


def _beyond(
    document: Any, actions: set[str], prefixes: tuple[str, ...], bucket_arn: str
) -> Iterator[str]:
    statements = policy_statements(document)
    if statements is None:
        yield "its policy cannot be read"
        return
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "?")
        extra = sorted(set(map(str, as_list(statement.get("Action")))) - actions)
        if extra:
            yield f"statement '{sid}' allows {', '.join(extra)}"
        for resource in map(str, as_list(statement.get("Resource"))):
            if resource == bucket_arn and statement.get("Action") == "s3:ListBucket":
                listed = dig(statement, "Condition", "StringLike", "s3:prefix")
                if not listed or any(
                    not any(f"{bucket_arn}/{p}".startswith(pre) for pre in prefixes)
                    for p in as_list(listed)
                ):
                    yield f"statement '{sid}' lists {resource} beyond its prefix"
            elif not any(pre in resource for pre in prefixes):
                yield f"statement '{sid}' reaches {resource}"
