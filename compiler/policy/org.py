"""Organisation policies from `configs/policies.yaml`, checked on the IR.

Each finding names the spec object and the YAML line that causes it. A team-scoped finding is
waived by an unexpired exception for that policy and team; an expired exception fails with
its own finding, so waivers cannot outlive their review.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from compiler.diagnostics import Diagnostic, Span, did_you_mean, error, warning
from compiler.ir import PlatformIR, Team
from compiler.yaml_source import Path_
from schemas.policy import PolicyException

Locate = Callable[[Path_, bool], Span]
"""(config path, at the key rather than the value) -> where it was written."""

# Stable ids of the organisation policies (what users see as error[G1xx]).
POLICY_CODES: dict[str, str] = {
    "exception-expired": "G100",
    "allowed-regions": "G101",
    "allowed-instance-types": "G102",
    "max-gpus-per-team": "G103",
    "max-gpus-per-endpoint": "G104",
    "image-registries": "G105",
    "image-digests": "G106",
    "pii-access": "G107",
    "data-residency": "G108",
    "model-card": "G109",
    "model-metrics": "G110",
    "endpoint-latency-objective": "G111",
    "endpoint-replicas": "G112",
    "exception-unused": "G113",
}


PRODUCTION_POLICIES = frozenset(
    {
        "image-digests",
        "model-card",
        "model-metrics",
        "endpoint-latency-objective",
        "endpoint-replicas",
    }
)


@dataclass(frozen=True)
class Finding:
    policy: str
    message: str
    path: Path_
    hint: str
    team: str | None = None
    at_key: bool = False
    """Point at the object's key (a whole object is at fault) rather than at a value."""


def _images(ir: PlatformIR) -> Iterator[tuple[str, str, Path_]]:
    """(team, image, config path) of every container image a team runs."""
    for team in ir.teams.values():
        for pipeline in team.pipelines.values():
            for step in pipeline.steps.values():
                base = ("teams", team.name, "pipelines", pipeline.name, "steps", step.name)
                if step.container is not None:
                    yield team.name, step.container.image, (*base, "container", "image")
                elif step.python is not None and step.python.base_image:
                    yield team.name, step.python.base_image, (*base, "python")
        for endpoint in team.endpoints.values():
            if endpoint.image:
                yield (
                    team.name,
                    endpoint.image,
                    ("teams", team.name, "endpoints", endpoint.name, "image"),
                )


def _findings(ir: PlatformIR) -> Iterator[Finding]:
    policy = ir.policies
    production = ir.environment in policy.production.environments
    if policy.allowed_regions and ir.platform.region not in policy.allowed_regions:
        yield Finding(
            "allowed-regions",
            f"region '{ir.platform.region}' is not an allowed region",
            ("platform", "region"),
            f"allowed: {', '.join(policy.allowed_regions)}",
        )
    if policy.allowed_instance_types:
        for pool in ir.node_pools.values():
            for index, name in enumerate(pool.instance_types):
                if not any(
                    fnmatch.fnmatchcase(name, pattern) for pattern in policy.allowed_instance_types
                ):
                    yield Finding(
                        "allowed-instance-types",
                        f"instance type '{name}' of node pool '{pool.name}' is not allowed",
                        ("node_pools", pool.name, "instance_types", index),
                        f"allowed: {', '.join(policy.allowed_instance_types)}",
                    )
    for team in ir.teams.values():
        yield from _team_findings(ir, team, production)
    for name, bucket in ir.buckets.items():
        if bucket.replicate_to and bucket.classification in policy.data.residency_classifications:
            yield Finding(
                "data-residency",
                f"bucket '{name}' holds {bucket.classification} data and would be replicated "
                f"to {bucket.replicate_to}",
                ("buckets", name, "replicate_to"),
                f"{bucket.classification} data never leaves {ir.platform.region}; remove replicate_to",
            )
    for team_name, image, path in _images(ir):
        if policy.image_registries and not any(
            image.startswith(p) for p in policy.image_registries
        ):
            yield Finding(
                "image-registries",
                f"image '{image}' is not from an allowed registry",
                path,
                f"allowed: {', '.join(policy.image_registries)}",
                team_name,
            )
        if production and policy.production.require_image_digests and "@sha256:" not in image:
            yield Finding(
                "image-digests",
                f"image '{image}' is not pinned by digest in {ir.environment}",
                path,
                "use image@sha256:<digest> so what was reviewed is what runs",
                team_name,
            )


def _team_findings(ir: PlatformIR, team: Team, production: bool) -> Iterator[Finding]:
    policy = ir.policies
    base: Path_ = ("teams", team.name)
    if policy.max_gpus_per_team is not None and team.quotas.gpus > policy.max_gpus_per_team:
        yield Finding(
            "max-gpus-per-team",
            f"team '{team.name}' has a quota of {team.quotas.gpus} GPUs, above the "
            f"organisation maximum of {policy.max_gpus_per_team}",
            (*base, "quotas", "gpus"),
            "lower the quota, or add an exception with a reason, approver and expiry",
            team.name,
        )
    for index, grant in enumerate(team.bucket_access):
        bucket = ir.buckets.get(grant.bucket)
        if (
            bucket
            and bucket.classification == "pii"
            and team.name not in policy.data.pii_approved_teams
        ):
            yield Finding(
                "pii-access",
                f"team '{team.name}' is granted pii bucket '{bucket.name}' but is not "
                "approved for pii data",
                (*base, "bucket_access", index, "bucket"),
                "ask the data protection officer to add the team to policies.data.pii_approved_teams",
                team.name,
            )
    for endpoint in team.endpoints.values():
        epath = (*base, "endpoints", endpoint.name)
        gpus = endpoint.resources.gpu * endpoint.max_replicas
        if policy.max_gpus_per_endpoint is not None and gpus > policy.max_gpus_per_endpoint:
            yield Finding(
                "max-gpus-per-endpoint",
                f"endpoint '{endpoint.name}' uses up to {gpus} GPUs ({endpoint.max_replicas} replicas x "
                f"{endpoint.resources.gpu}), above the maximum of {policy.max_gpus_per_endpoint}",
                (*epath, "max_replicas"),
                "lower max_replicas or GPUs per replica",
                team.name,
            )
        if not production:
            continue
        rules = policy.production
        if rules.require_latency_objective and endpoint.latency_objective is None:
            yield Finding(
                "endpoint-latency-objective",
                f"endpoint '{endpoint.name}' has no latency objective in {ir.environment}",
                epath,
                "add latency_objective: {percentile: 99, target_ms: ...}",
                team.name,
                at_key=True,
            )
        if endpoint.min_replicas < rules.min_endpoint_replicas:
            yield Finding(
                "endpoint-replicas",
                f"endpoint '{endpoint.name}' has min_replicas {endpoint.min_replicas} in "
                f"{ir.environment}; at least {rules.min_endpoint_replicas} are required",
                (*epath, "min_replicas"),
                f"set min_replicas: {rules.min_endpoint_replicas} in env/{ir.environment}.yaml",
                team.name,
            )
        model = ir.teams[endpoint.model_team].models[endpoint.model]
        mpath = ("teams", model.team, "models", model.name, "card")
        card = model.card
        if rules.require_model_card:
            missing = [
                field
                for field, value in (
                    ("intended_use", card.intended_use),
                    ("limitations", card.limitations),
                    ("fairness", card.fairness),
                    ("approver", card.approver),
                    ("metrics", card.metrics),
                )
                if not value
            ]
            if missing:
                yield Finding(
                    "model-card",
                    f"model '{model.name}' served by endpoint '{endpoint.name}' has an "
                    f"incomplete model card in {ir.environment}: missing {', '.join(missing)}",
                    mpath,
                    "complete the card before serving in production",
                    team.name,
                    at_key=True,
                )
        if rules.require_metrics_above_thresholds:
            for metric, bounds in card.metrics.items():
                measured = card.evaluation.get(metric)
                if measured is None:
                    yield Finding(
                        "model-metrics",
                        f"model '{model.name}' declares a threshold for '{metric}' but "
                        "its card has no measured value",
                        (*mpath, "metrics", metric),
                        f"add card.evaluation.{metric} from the evaluation run",
                        team.name,
                    )
                elif (bounds.min is not None and measured < bounds.min) or (
                    bounds.max is not None and measured > bounds.max
                ):
                    limit = (
                        f">= {bounds.min}"
                        if bounds.min is not None and measured < bounds.min
                        else f"<= {bounds.max}"
                    )
                    yield Finding(
                        "model-metrics",
                        f"model '{model.name}' measured {metric} = {measured}, which "
                        f"fails its threshold ({limit})",
                        (*mpath, "evaluation", metric),
                        "retrain or revisit the threshold with the approver",
                        team.name,
                    )


def check_org_policies(
    ir: PlatformIR, locate: Locate, today: date | None = None
) -> list[Diagnostic]:
    """Every organisation-policy finding as a diagnostic (exceptions applied)."""
    today = today or date.today()
    exceptions = ir.policies.exceptions
    used: set[int] = set()
    diags: list[Diagnostic] = []
    for index, exc in enumerate(exceptions):
        path = ("policies", "exceptions", index)
        if exc.team not in ir.teams:
            diags.append(
                error(
                    "E202",
                    f"policy exception names team '{exc.team}', which does not exist",
                    locate((*path, "team"), False),
                    did_you_mean(exc.team, ir.teams),
                )
            )
        elif exc.expires < today:
            diags.append(
                error(
                    POLICY_CODES["exception-expired"],
                    f"exception to '{exc.policy}' for team '{exc.team}' expired on {exc.expires}",
                    locate((*path, "expires"), False),
                    "renew it with the approver (new expiry) or fix the violation and remove it",
                )
            )
    for finding in _findings(ir):
        waiver = _waiver(exceptions, finding, today)
        if waiver is not None:
            used.add(waiver)
            continue
        diags.append(
            error(
                POLICY_CODES[finding.policy],
                f"[{finding.policy}] {finding.message}",
                locate(finding.path, finding.at_key),
                finding.hint,
            )
        )
    production = ir.environment in ir.policies.production.environments
    for index, exc in enumerate(exceptions):
        relevant = production or exc.policy not in PRODUCTION_POLICIES
        if relevant and index not in used and exc.team in ir.teams and exc.expires >= today:
            diags.append(
                warning(
                    POLICY_CODES["exception-unused"],
                    f"exception to '{exc.policy}' for team '{exc.team}' waives nothing in "
                    f"{ir.environment}",
                    locate(("policies", "exceptions", index), True),
                    "remove it if the violation is gone",
                )
            )
    return diags


def _waiver(exceptions: list[PolicyException], finding: Finding, today: date) -> int | None:
    for index, exc in enumerate(exceptions):
        if exc.policy == finding.policy and exc.team == finding.team and exc.expires >= today:
            return index
    return None
