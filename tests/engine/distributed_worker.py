"""One rank of test_distributed's 2-process job (`mpiexec -n 2 python distributed_worker.py DIR`).

Each rank runs the collectives and DistributedDataParallel and writes what it saw to
DIR/rank<r>.json (the ranks' stdout would interleave); the test compares the ranks' reports with
each other and with single-process references.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import engine as en
import engine.distributed as dist
import engine.nn.functional as F
from engine import nn, optim
from engine.nn.parallel import DistributedDataParallel


class Net(nn.Module):
    """An MLP plus a parameter only rank 1's forward uses and one no forward uses."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(5, 7), nn.Linear(7, 3)
        self.extra = nn.Parameter(en.zeros(3))
        self.unused = nn.Parameter(en.ones(2))

    def forward(self, x: en.Tensor, use_extra: bool = False) -> en.Tensor:
        out = self.fc2(F.relu(self.fc1(x)))
        return out + self.extra if use_extra else out


def collectives(rank: int, world: int) -> dict:
    out: dict = {}
    for op in dist.ReduceOp:
        t = en.tensor([rank + 1.0, -(rank + 2.0)])
        dist.all_reduce(t, op)
        out[op.name] = t.tolist()
    strided = (en.arange(6.0).reshape(2, 3) * (rank + 1)).t()  # not contiguous: via a copy
    dist.all_reduce(strided)
    out["strided"] = strided.tolist()
    counts = en.tensor([rank, 10], dtype=en.int64)
    version = counts._version
    dist.all_reduce(counts, dist.ReduceOp.MAX)
    out["int_max"], out["version_bumped"] = counts.tolist(), counts._version > version
    for op in (dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN, dist.ReduceOp.MAX):
        flags = en.tensor([rank == 0, True, False])  # MPI's bool type takes no SUM, MIN...
        dist.all_reduce(flags, op)
        out[f"bool_{op.name}"] = flags.tolist()
    t = en.full((3,), float(rank))
    dist.broadcast(t, src=1)
    out["broadcast"] = t.tolist()
    gathered = [en.zeros(2) for _ in range(world)]
    dist.all_gather(gathered, en.full((2,), rank + 0.5))
    out["all_gather"] = [g.tolist() for g in gathered]
    objects: list = [None] * world
    dist.all_gather_object(objects, {"rank": rank, "big": 2**70 + rank, "w": en.ones(2) * rank})
    out["objects"] = [[o["rank"], o["big"], o["w"].tolist()] for o in objects]
    box = [{"w": en.arange(3.0) + 7, "s": "from 0"} if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    out["object_list"] = [box[0]["w"].tolist(), box[0]["s"]]
    dist.barrier()
    return out


def _grads(module: nn.Module) -> dict:
    return {n: None if p.grad is None else p.grad.numpy().copy()
            for n, p in module.named_parameters()}


def ddp_against_reference(rank: int, world: int) -> dict:
    """DDP on half batches vs one process on the whole batch, same start, three SGD steps."""
    en.manual_seed(0)
    x, y = en.randn(8, 5), en.randint(0, 3, (8,))
    en.manual_seed(10 + rank)  # each rank starts elsewhere: DDP copies rank 0's weights
    net = Net()
    ddp = DistributedDataParallel(net)
    ref = Net()
    ref.load_state_dict(net.state_dict())
    opt, ref_opt = optim.SGD(ddp.parameters(), lr=0.5), optim.SGD(ref.parameters(), lr=0.5)
    mine = slice(4 * rank, 4 * rank + 4)
    grad_err = weight_err = 0.0
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(ddp(x[mine]), y[mine]).backward()
        ref_opt.zero_grad()
        F.cross_entropy(ref(x), y).backward()
        for name, g in _grads(net).items():
            if name in ("extra", "unused"):
                continue
            grad_err = max(grad_err, float(np.abs(g - _grads(ref)[name]).max()))
        opt.step()
        ref_opt.step()
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        weight_err = max(weight_err, float(np.abs(p.detach().numpy() - q.detach().numpy()).max()))
    # A parameter only rank 1 uses gets rank 1's gradient over the world size on both ranks; one
    # no rank uses keeps no gradient.
    local = Net()
    local.load_state_dict(net.state_dict())
    F.cross_entropy(local(x[mine], use_extra=rank == 1), y[mine]).backward()
    opt.zero_grad()
    F.cross_entropy(ddp(x[mine], use_extra=rank == 1), y[mine]).backward()
    expected = [None] * world
    dist.all_gather_object(expected, local.extra.grad.numpy() if rank == 1 else None)
    return {"grad_err": grad_err, "weight_err": weight_err,
            "extra_err": float(np.abs(net.extra.grad.numpy() - expected[1] / world).max()),
            "unused_grad": net.unused.grad is None,
            "weights": [p.detach().numpy().tolist() for p in net.parameters()],
            "keys": list(ddp.state_dict())[:2], "has_module": ddp.module is net}


def no_sync_and_buffers(rank: int, world: int) -> dict:
    """Gradients accumulate locally in no_sync; BatchNorm buffers end as rank 0's."""
    en.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    ddp = DistributedDataParallel(net)
    local = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    local.load_state_dict(net.state_dict())
    en.manual_seed(20 + rank)
    a, b = en.randn(6, 4) + rank, en.randn(6, 4) - rank
    with ddp.no_sync():
        ddp(a).square().mean().backward()
    inside = net[0].weight.grad.numpy().copy()
    ddp(b).square().mean().backward()
    local(a).square().mean().backward()
    local(b).square().mean().backward()
    sums: list = [None] * world
    dist.all_gather_object(sums, local[0].weight.grad.numpy())
    mean = np.mean(sums, axis=0)
    stats: list = [None] * world
    dist.all_gather_object(stats, local[1].running_mean.numpy())
    return {"inside": inside.tolist(),
            "after_err": float(np.abs(net[0].weight.grad.numpy() - mean).max()),
            "running_mean_err": float(np.abs(net[1].running_mean.numpy() - stats[0]).max())}


def after_a_failed_backward(rank: int, world: int) -> dict:
    """A backward that raises once the output's hook queued the averaging: the next backward
    is averaged (its gradients equal on every rank)."""
    en.manual_seed(2)
    net = nn.Linear(4, 2)
    ddp = DistributedDataParallel(net)
    en.manual_seed(30 + rank)
    x = en.randn(6, 4)

    def boom(grad: en.Tensor) -> None:
        raise RuntimeError("boom")

    handle = net.weight.register_hook(boom)
    try:
        ddp(x).square().mean().backward()
    except RuntimeError:
        pass
    handle.remove()
    net.zero_grad()
    ddp(x).square().mean().backward()
    grads: list = [None] * world
    dist.all_gather_object(grads, net.weight.grad.numpy())
    return {"failed_then_spread": float(np.abs(grads[0] - grads[1]).max())}


def main() -> None:
    dist.init_process_group(backend="mpi", timeout=60)
    rank, world = dist.get_rank(), dist.get_world_size()
    report = {"rank": rank, "world": world, "backend": dist.get_backend()}
    report.update(collectives(rank, world))
    report.update(ddp_against_reference(rank, world))
    report.update(no_sync_and_buffers(rank, world))
    report.update(after_a_failed_backward(rank, world))
    (Path(sys.argv[1]) / f"rank{rank}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
