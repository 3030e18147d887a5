"""A distributed step runs for real on this machine: torchrun, 2 processes, gloo, via kfp.local.

The probe step trains on a different shard on each rank; identical weights at the end can
only come from DDP all-reducing the gradients, and the loss must go down.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_fresh_python

pytestmark = pytest.mark.e2e

SCRIPT = """
import json, sys
from pathlib import Path
from types import SimpleNamespace
from kfp import dsl, local
from compiler.ir_training import DistributedJob
from compiler.kfp_backend.distributed import torchrun_component
from compiler.kfp_backend.steps import StepComponent
from tests.deploy.ddp_probe import ddp_probe

job = DistributedJob(framework="pytorch", workers=1, procs_per_worker=int(sys.argv[2]),
                     backend="gloo", min_workers=1, max_workers=1)
built = torchrun_component(SimpleNamespace(distributed=job), StepComponent(dsl.component(ddp_probe), {}))

@dsl.pipeline(name="ddp-probe")
def probe() -> None:
    built.component(steps=25)

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[1], raise_on_error=True)
probe()
print(json.dumps({"done": True}))
"""


def _run(root: Path, procs: int) -> list[dict]:
    import torch

    assert run_fresh_python(SCRIPT, str(root), str(procs)) == {"done": True}
    (folder,) = [p for p in root.glob("*/*/weights") if p.is_dir()]
    files = sorted(folder.glob("rank*.pt"))
    assert [f.name for f in files] == [f"rank{r}.pt" for r in range(procs)]
    outputs = json.loads((folder.parent / "executor_output.json").read_text())
    assert outputs["parameterValues"]["Output"] == "gloo"
    return [torch.load(f, weights_only=False) for f in files]


def test_two_ranks_end_with_identical_weights_and_a_lower_loss(tmp_path: Path) -> None:
    import torch

    ranks = _run(tmp_path, 2)
    assert [r["world"] for r in ranks] == [2, 2]
    assert not torch.equal(ranks[0]["x"], ranks[1]["x"])  # each rank saw other data
    for name, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][name]), name  # gradients were all-reduced
        assert not torch.equal(value, ranks[0]["initial"][name]), name  # and weights moved
    for rank in ranks:
        assert rank["losses"][-1] < 0.5 * rank["losses"][0]
