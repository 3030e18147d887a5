"""Train the demand forecaster: a small PyTorch network, data-parallel across processes."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output


def train_forecaster(
    dataset: Input[Dataset],
    learning_rate: float,
    hidden: int,
    epochs: int,
    model: Output[Model],
    metrics: Output[Metrics],
) -> float:
    """Fit an MLP on the training rows with DistributedDataParallel; return the validation MSE.

    Started by torchrun (WORLD_SIZE > 1) it joins the process group, trains on its shard
    of the rows and lets DDP all-reduce the gradients, so every rank ends with the same
    weights; rank 0 checks that (the largest difference between ranks' weights is logged as
    `rank_weight_spread`) and writes the model as TorchScript (`model.pt`), which MLServer's
    and KServe's PyTorch runtimes load. Run alone, it trains in one process.
    """
    import os

    import numpy as np
    import torch
    import torch.distributed as dist
    from torch import nn

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group(backend=os.environ.get("MLPLAT_DIST_BACKEND", "gloo"))
    torch.manual_seed(0)
    torch.set_num_threads(1)
    with open(dataset.path, "rb") as data:
        arrays = np.load(data)
        x, y, split = arrays["x"], arrays["y"], arrays["split"]
    mean, std = float(x[split == 0].mean()), float(x[split == 0].std()) or 1.0
    x_all = torch.from_numpy((x - mean) / std)
    y_all = torch.from_numpy((y - mean) / std).unsqueeze(1)
    train_idx = np.flatnonzero(split == 0)
    val_idx = np.flatnonzero(split == 1)
    shard = train_idx[rank::world]
    window = x.shape[1]

    net = nn.Sequential(nn.Linear(window, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    trained: nn.Module = nn.parallel.DistributedDataParallel(net) if world > 1 else net
    optimiser = torch.optim.Adam(trained.parameters(), lr=learning_rate)
    loss_fn = nn.MSELoss()

    def val_loss() -> float:
        with torch.no_grad():
            return float(loss_fn(net(x_all[val_idx]), y_all[val_idx]))

    initial = val_loss()
    generator = torch.Generator().manual_seed(rank)
    batch = 64
    for _ in range(epochs):
        order = torch.from_numpy(shard)[torch.randperm(len(shard), generator=generator)]
        steps = len(order) // batch
        for step in range(steps):
            rows = order[step * batch : (step + 1) * batch]
            optimiser.zero_grad()
            loss = loss_fn(trained(x_all[rows]), y_all[rows])
            loss.backward()
            optimiser.step()
    final = val_loss()

    flat = torch.cat([p.detach().flatten() for p in net.parameters()])
    spread = 0.0
    if world > 1:
        gathered = [torch.zeros_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        spread = max(float((g - gathered[0]).abs().max()) for g in gathered)
    if rank == 0:

        class Forecaster(nn.Module):
            """Takes raw demand windows; the scaling is part of the model."""

            def __init__(self, inner: nn.Module, shift: float, scale: float) -> None:
                super().__init__()
                self.inner, self.shift, self.scale = inner, shift, scale

            def forward(self, window: torch.Tensor) -> torch.Tensor:
                return self.inner((window - self.shift) / self.scale) * self.scale + self.shift

        os.makedirs(model.path, exist_ok=True)
        example = x_all[:1] * std + mean
        scripted = torch.jit.trace(Forecaster(net.eval(), mean, std), example)
        scripted.save(os.path.join(model.path, "model.pt"))
        model.metadata["framework"] = "pytorch"
        model.metadata["model_file"] = "model.pt"
        model.metadata["window"] = window
        model.metadata["n_features"] = window
        metrics.log_metric("val_mse", final)
        metrics.log_metric("initial_val_mse", initial)
        metrics.log_metric("world_size", world)
        metrics.log_metric("rank_weight_spread", spread)
        metrics.log_metric("train_rows", len(train_idx))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return final
