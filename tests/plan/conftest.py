from __future__ import annotations

import pytest

from compiler.plan.model import Plan
from tests.platform_iac.planning import VARIANT, plan_for


@pytest.fixture(scope="session")
def prod() -> Plan:
    return plan_for("prod")


@pytest.fixture(scope="session")
def variant() -> Plan:
    return plan_for("dev", VARIANT)
