from __future__ import annotations

import pytest

from compiler.plan.model import Plan
from tests.platform_iac.planning import VARIANT, plan_for


@pytest.fixture(scope="session")
def prod() -> Plan:
    return plan_for("prod")


@pytest.fixture(scope="session")
def dev() -> Plan:
    return plan_for("dev")


@pytest.fixture(scope="session")
def variant() -> Plan:
    """dev with an existing VPC, a replicated bucket and a custom server image."""
    return plan_for("dev", VARIANT)
