"""Cost estimate: node pools at min and max from the catalog, endpoints as a share of a node."""

from __future__ import annotations

from decimal import Decimal

from compiler.plan.cost import endpoint_share, estimate, signed_usd, usd
from schemas.catalog import INSTANCE_TYPES
from tests.platform_iac.planning import ir_for


def test_node_pools_are_priced_at_min_and_max_size():
    lines = estimate(ir_for("prod")).by_item()
    t4 = lines[("node pools", "gpu-t4")]
    hourly = INSTANCE_TYPES["g4dn.xlarge"].hourly_usd
    assert (t4.min_usd, t4.max_usd) == (hourly * 730 * 2, hourly * 730 * 8)
    general = lines[("node pools", "cpu-general")]
    assert general.min_usd == INSTANCE_TYPES["m7i.2xlarge"].hourly_usd * 730 * 3


def test_endpoints_are_a_share_of_their_pool_and_not_added_twice():
    ir = ir_for("prod")
    cost = estimate(ir)
    ranker = ir.teams["recsys"].endpoints["ranker"]
    assert endpoint_share(ranker, ir.node_pools["gpu-t4"]) == Decimal(1)  # its one GPU
    line = cost.by_item()[("endpoints", "recsys/ranker")]
    assert line.min_usd == INSTANCE_TYPES["g4dn.xlarge"].hourly_usd * 730 * 2
    counted = sum(line.min_usd for line in cost.lines if line.group != "endpoints")
    per_run = sum(line.min_usd for line in cost.lines if line.group == "training")
    assert per_run > 0  # distributed jobs and sweeps are priced per run, beside the total
    assert cost.total_min == counted - per_run
    assert cost.by_item()[("platform", "NAT gateways (3)")].min_usd == Decimal("0.045") * 730 * 3


def test_money_formatting():
    assert usd(Decimal("1234.5")) == "$1,234"
    assert signed_usd(Decimal("-12.6")) == "-$13" and signed_usd(Decimal("0.2")) == "±$0"
