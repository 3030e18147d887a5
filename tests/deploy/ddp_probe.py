"""A step function for the DDP test: every rank trains on different data and saves its weights."""

from kfp.dsl import Artifact, Output


def ddp_probe(steps: int, weights: Output[Artifact]) -> str:
    """Train a linear model with DistributedDataParallel; each rank writes rank<N>.pt."""
    import os

    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    backend = os.environ["MLPLAT_DIST_BACKEND"]
    dist.init_process_group(backend=backend)
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 1)
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    optimiser = torch.optim.SGD(ddp.parameters(), lr=0.05)
    data = torch.Generator().manual_seed(100 + rank)  # a different shard on every rank
    x = torch.randn(64, 4, generator=data)
    y = x @ torch.tensor([[1.0], [-2.0], [3.0], [0.5]])
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    os.makedirs(weights.path, exist_ok=True)
    torch.save(
        {"state": net.state_dict(), "initial": initial, "losses": losses, "world": world, "x": x},
        os.path.join(weights.path, f"rank{rank}.pt"),
    )
    dist.barrier()
    dist.destroy_process_group()
    return backend
