"""The catalog of AWS EC2 instance types that node pools may use.

Used to check GPU claims in specs and to estimate cost. Prices are us-east-1 Linux
on-demand list prices in USD per hour; they are an estimate for review, not a bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

GpuModel = Literal[
    "nvidia-t4", "nvidia-a10g", "nvidia-l4", "nvidia-v100", "nvidia-a100", "nvidia-a100-80gb",
    "nvidia-h100",
]  # fmt: skip

GPU_MODELS: tuple[str, ...] = GpuModel.__args__  # type: ignore[attr-defined]

HOURS_PER_MONTH = 730


@dataclass(frozen=True, slots=True)
class InstanceType:
    name: str
    vcpu: int
    memory_gib: int
    gpu_model: str | None
    gpu_count: int
    hourly_usd: Decimal

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def monthly_usd(self) -> Decimal:
        return self.hourly_usd * HOURS_PER_MONTH


def _table(rows: str) -> dict[str, InstanceType]:
    catalog: dict[str, InstanceType] = {}
    for line in rows.strip().splitlines():
        name, vcpu, mem, gpu, count, price = line.split()
        catalog[name] = InstanceType(
            name=name,
            vcpu=int(vcpu),
            memory_gib=int(mem),
            gpu_model=None if gpu == "-" else gpu,
            gpu_count=int(count),
            hourly_usd=Decimal(price),
        )
    return catalog


# name            vCPU  GiB   GPU model          GPUs  USD/hour
INSTANCE_TYPES: dict[str, InstanceType] = _table(
    """
t3.medium           2     4   -                  0     0.0416
t3.large            2     8   -                  0     0.0832
m6i.large           2     8   -                  0     0.096
m6i.xlarge          4    16   -                  0     0.192
m6i.2xlarge         8    32   -                  0     0.384
m6i.4xlarge        16    64   -                  0     0.768
m6i.8xlarge        32   128   -                  0     1.536
m7i.large           2     8   -                  0     0.1008
m7i.xlarge          4    16   -                  0     0.2016
m7i.2xlarge         8    32   -                  0     0.4032
m7i.4xlarge        16    64   -                  0     0.8064
c6i.large           2     4   -                  0     0.085
c6i.xlarge          4     8   -                  0     0.17
c6i.2xlarge         8    16   -                  0     0.34
c6i.4xlarge        16    32   -                  0     0.68
r6i.large           2    16   -                  0     0.126
r6i.xlarge          4    32   -                  0     0.252
r6i.2xlarge         8    64   -                  0     0.504
r6i.4xlarge        16   128   -                  0     1.008
g4dn.xlarge         4    16   nvidia-t4          1     0.526
g4dn.2xlarge        8    32   nvidia-t4          1     0.752
g4dn.4xlarge       16    64   nvidia-t4          1     1.204
g4dn.8xlarge       32   128   nvidia-t4          1     2.176
g4dn.12xlarge      48   192   nvidia-t4          4     3.912
g4dn.16xlarge      64   256   nvidia-t4          1     4.352
g4dn.metal         96   384   nvidia-t4          8     7.824
g5.xlarge           4    16   nvidia-a10g        1     1.006
g5.2xlarge          8    32   nvidia-a10g        1     1.212
g5.4xlarge         16    64   nvidia-a10g        1     1.624
g5.8xlarge         32   128   nvidia-a10g        1     2.448
g5.12xlarge        48   192   nvidia-a10g        4     5.672
g5.16xlarge        64   256   nvidia-a10g        1     4.096
g5.24xlarge        96   384   nvidia-a10g        4     8.144
g5.48xlarge       192   768   nvidia-a10g        8     16.288
g6.xlarge           4    16   nvidia-l4          1     0.8048
g6.2xlarge          8    32   nvidia-l4          1     0.9776
g6.4xlarge         16    64   nvidia-l4          1     1.3232
g6.8xlarge         32   128   nvidia-l4          1     2.0144
g6.12xlarge        48   192   nvidia-l4          4     4.6016
g6.16xlarge        64   256   nvidia-l4          1     3.3968
g6.24xlarge        96   384   nvidia-l4          4     6.6752
g6.48xlarge       192   768   nvidia-l4          8     13.3504
p3.2xlarge          8    61   nvidia-v100        1     3.06
p3.8xlarge         32   244   nvidia-v100        4     12.24
p3.16xlarge        64   488   nvidia-v100        8     24.48
p3dn.24xlarge      96   768   nvidia-v100        8     31.212
p4d.24xlarge       96  1152   nvidia-a100        8     32.7726
p4de.24xlarge      96  1152   nvidia-a100-80gb   8     40.9657
p5.48xlarge       192  2048   nvidia-h100        8     98.32
"""
)
