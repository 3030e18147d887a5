"""Plans of the example organisation under Pulumi's mocks, computed once per test session."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from compiler.frontend import load_platform
from compiler.ir import PlatformIR
from compiler.plan.mocks import run_program
from compiler.plan.model import Plan, PlannedResource

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CUSTOM_IMAGE = "ghcr.io/acme/fraud-server@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
VARIANT = (
    "+platform.cluster.vpc.existing_vpc_id=vpc-0abc12345def67890",
    "+buckets.artifacts.replicate_to=eu-central-1",
    "teams.fraud.endpoints.fraud-scorer.runtime=custom",
    f"+teams.fraud.endpoints.fraud-scorer.image={CUSTOM_IMAGE}",
    "teams.fraud.endpoints.fraud-scorer.autoscaling.metric=cpu",
    "teams.fraud.endpoints.fraud-scorer.min_replicas=2",
)
"""dev with what the example does not use: an existing VPC, a replicated bucket and a
custom server image."""


@cache
def ir_for(env: str, overrides: tuple[str, ...] = ()) -> PlatformIR:
    result = load_platform(CONFIGS, [f"env={env}", *overrides])
    assert result.ok and result.ir is not None, [d.render() for d in result.diagnostics]
    return result.ir


@cache
def plan_for(env: str, overrides: tuple[str, ...] = ()) -> Plan:
    return run_program(ir_for(env, overrides))


def of_type(plan: Plan, resource_type: str) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type == resource_type]


def one(plan: Plan, resource_type: str, name: str) -> PlannedResource:
    found = [r for r in of_type(plan, resource_type) if r.name == name]
    assert len(found) == 1, f"{resource_type} {name}: {len(found)} found"
    return found[0]


def document(value: str) -> Any:
    """An IAM or bucket policy input, parsed."""
    return json.loads(value)


def statements(value: str) -> list[dict[str, Any]]:
    return list(document(value)["Statement"])
