"""Monthly cost estimate of an environment, from the instance catalog.

Node pools are priced at their minimum and maximum size (the most expensive instance type
of a pool, on-demand price even for spot pools: an upper bound). Endpoints are priced as
the share of a node their replicas request, at min and max replicas; that share is part of
the node pools' cost, so it is shown but not added to the total. Fixed platform costs are
the EKS control plane and one NAT gateway per zone of a new VPC. Prices are us-east-1 list
prices: an estimate for review, not a bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from compiler.ir import Endpoint, NodePool, PlatformIR
from compiler.plan.training_cost import node_share, training_lines
from schemas.catalog import HOURS_PER_MONTH

EKS_CONTROL_PLANE_HOURLY = Decimal("0.10")
NAT_GATEWAY_HOURLY = Decimal("0.045")


@dataclass(frozen=True)
class CostLine:
    group: str
    """'platform', 'node pools', 'endpoints' or 'training' (per run, see training.py)."""
    item: str
    min_usd: Decimal
    max_usd: Decimal
    note: str = ""

    @property
    def counted(self) -> bool:
        """Endpoints run on node pools and training is priced per run: both informational."""
        return self.group not in ("endpoints", "training")


@dataclass(frozen=True)
class CostEstimate:
    lines: tuple[CostLine, ...]

    @property
    def total_min(self) -> Decimal:
        return sum((line.min_usd for line in self.lines if line.counted), Decimal(0))

    @property
    def total_max(self) -> Decimal:
        return sum((line.max_usd for line in self.lines if line.counted), Decimal(0))

    def by_item(self) -> dict[tuple[str, str], CostLine]:
        return {(line.group, line.item): line for line in self.lines}


def node_monthly(pool: NodePool) -> Decimal:
    return pool.hourly_usd_per_node * HOURS_PER_MONTH


def endpoint_share(endpoint: Endpoint, pool: NodePool) -> Decimal:
    """The fraction of one node a replica takes: its largest share of CPU, memory or GPUs."""
    return node_share(endpoint.resources, pool)


def estimate(ir: PlatformIR) -> CostEstimate:
    hours = Decimal(HOURS_PER_MONTH)
    lines = [
        CostLine(
            "platform",
            "EKS control plane",
            EKS_CONTROL_PLANE_HOURLY * hours,
            EKS_CONTROL_PLANE_HOURLY * hours,
        )
    ]
    vpc = ir.platform.cluster.vpc
    if not vpc.existing_vpc_id:
        nat = NAT_GATEWAY_HOURLY * hours * vpc.availability_zones
        lines.append(
            CostLine("platform", f"NAT gateways ({vpc.availability_zones})", nat, nat, "plus data")
        )
    for name, pool in sorted(ir.node_pools.items()):
        node = node_monthly(pool)
        note = f"{pool.min_size}-{pool.max_size} x {'/'.join(pool.instance_types)}"
        if pool.capacity_type == "spot":
            note += ", spot (priced on demand)"
        lines.append(CostLine("node pools", name, node * pool.min_size, node * pool.max_size, note))
    for endpoint in sorted(ir.endpoints(), key=lambda e: (e.team, e.name)):
        pool = ir.node_pools[endpoint.node_pool]
        replica = endpoint_share(endpoint, pool) * node_monthly(pool)
        lines.append(
            CostLine(
                "endpoints",
                f"{endpoint.team}/{endpoint.name}",
                replica * endpoint.min_replicas,
                replica * endpoint.max_replicas,
                f"{endpoint.min_replicas}-{endpoint.max_replicas} replicas on {pool.name}",
            )
        )
    lines.extend(training_lines(ir))
    return CostEstimate(tuple(lines))


def usd(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal(1)):,}"


def signed_usd(amount: Decimal) -> str:
    rounded = amount.quantize(Decimal(1))
    if rounded == 0:
        return "±$0"
    return f"+${rounded:,}" if rounded > 0 else f"-${-rounded:,}"
