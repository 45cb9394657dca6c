"""engine.distributed and DistributedDataParallel: a group of one without MPI, two ranks with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi_launch import LAUNCH_VARS, ROOT, mpi_env, mpiexec, needs_mpi

import engine as en
import engine.distributed as dist
import engine.nn.functional as F
from engine import nn
from engine.distributed import group as group_mod
from engine.nn.parallel import DistributedDataParallel, _Reducer


@pytest.fixture
def alone(monkeypatch: pytest.MonkeyPatch):
    """A default group of this process alone (no launcher variables), destroyed afterwards."""
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    dist.init_process_group(backend="mpi")
    yield
    dist.destroy_process_group()


def test_importing_starts_no_mpi() -> None:
    code = ("import sys, trainer.cli, engine.distributed, engine.nn.parallel, trainer.parallel; "
            "print('mpi4py' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=mpi_env(), cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_group_of_one_without_a_launcher(alone: None) -> None:
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == "mpi" and "mpi4py" not in sys.modules
    t = en.tensor([1.5, -2.0])
    for op in dist.ReduceOp:
        assert dist.all_reduce(t, op) is None
        assert t.tolist() == [1.5, -2.0]
    assert dist.all_reduce(t, async_op=True).wait()
    dist.broadcast(t, src=0)
    out = [en.zeros(2)]
    dist.all_gather(out, t)
    assert out[0].tolist() == [1.5, -2.0]
    objects = [None]
    dist.all_gather_object(objects, {"a": [1, 2]})
    assert objects == [{"a": [1, 2]}]
    dist.barrier()
    with pytest.raises(TypeError, match="ReduceOp.AVG needs a floating-point tensor"):
        dist.all_reduce(en.tensor([1, 2]), dist.ReduceOp.AVG)
    with pytest.raises(ValueError, match=r"src=1 is not a rank of this group \(0..0\)"):
        dist.broadcast(t, src=1)
    with pytest.raises(RuntimeError, match="initialize the default process group twice"):
        dist.init_process_group("mpi")


def test_group_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend 'nccl' is not available"):
        dist.init_process_group("nccl")
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="world_size=2 but the MPI launcher started this "
                                         "process as world_size 1"):
        dist.init_process_group("mpi", world_size=2)
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedDataParallel(nn.Linear(2, 2))


class _NeverDone:
    def Test(self) -> bool:  # noqa: N802 - mpi4py's Request method
        return False


def test_a_collective_past_the_timeout_breaks_the_group(alone: None) -> None:
    group = group_mod._group
    group.timeout = 0.05
    with pytest.raises(dist.DistBackendError, match=r"all_reduce timed out after 0 s on rank 0 "
                                                    "of 1: another rank died, hangs"):
        group_mod._wait(_NeverDone(), "all_reduce", group)
    with pytest.raises(dist.DistBackendError, match=r"the process group is broken \(all_reduce "
                                                    r"timed out\)"):
        dist.barrier()


def test_ddp_of_one_process_is_the_module(alone: None) -> None:
    en.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    ddp = DistributedDataParallel(net)
    x, y = en.randn(5, 4), en.tensor([0, 1, 1, 0, 1])
    F.cross_entropy(ddp(x), y).backward()
    grads = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    for g, p in zip(grads, net.parameters(), strict=True):
        np.testing.assert_array_equal(g, p.grad.numpy())
    assert ddp.module is net
    assert list(ddp.state_dict()) == ["module." + k for k in net.state_dict()]


def test_a_failed_backward_leaves_the_next_one_averaged(alone: None) -> None:
    """A pass that raises after the output's hook queued the averaging drops it; the next pass
    must queue (and run) it again rather than find it still marked as queued."""
    en.manual_seed(0)
    net = nn.Linear(3, 2)
    runs: list[int] = []
    reducer = _Reducer(list(net.parameters()), lambda: runs.append(1))
    x = en.randn(4, 3)

    def boom(grad: en.Tensor) -> None:
        raise RuntimeError("out of memory in backward")

    out = net(x)
    out.register_hook(reducer.hook)
    handle = net.weight.register_hook(boom)  # runs after the output's hook
    with pytest.raises(RuntimeError, match="out of memory in backward"):
        out.sum().backward()
    handle.remove()
    assert not reducer.queued and runs == []
    for expected in ([1], [1, 1]):
        net.zero_grad()
        out = net(x)
        out.register_hook(reducer.hook)
        (out.sum() + out.sum()).backward()
        assert runs == expected and not reducer.queued
    np.testing.assert_allclose(net.weight.grad.numpy(), 2 * x.numpy().sum(0)[None].repeat(2, 0),
                               rtol=1e-6)


@pytest.mark.mpi
@needs_mpi
def test_two_ranks(tmp_path: Path) -> None:
    """Collectives and DDP on 2 ranks (tests/engine/distributed_worker.py), one launch."""
    worker = Path(__file__).with_name("distributed_worker.py")
    done = subprocess.run([mpiexec(), "-n", "2", sys.executable, str(worker), str(tmp_path)],
                          capture_output=True, text=True, env=mpi_env(), cwd=tmp_path,
                          timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (r0["rank"], r1["rank"], r0["world"], r0["backend"]) == (0, 1, 2, "mpi")
    # Ranks held [r + 1, -(r + 2)]: rank 0 [1, -2], rank 1 [2, -3].
    expected = {"SUM": [3, -5], "AVG": [1.5, -2.5], "PRODUCT": [2, 6], "MIN": [1, -3],
                "MAX": [2, -2], "strided": [[0, 9], [3, 12], [6, 15]], "int_max": [1, 10],
                "broadcast": [1, 1, 1], "all_gather": [[0.5, 0.5], [1.5, 1.5]],
                "objects": [[0, 2**70, [0, 0]], [1, 2**70 + 1, [1, 1]]],
                "object_list": [[7, 8, 9], "from 0"], "bool_SUM": [True, True, False],
                "bool_PRODUCT": [False, True, False], "bool_MIN": [False, True, False],
                "bool_MAX": [True, True, False], "failed_then_spread": 0.0}
    for report in (r0, r1):
        for key, value in expected.items():
            assert report[key] == value, key
        assert report["version_bumped"]
        # DDP on half batches = one process on the whole batch (fp32 rounding apart).
        assert report["grad_err"] < 1e-6 and report["weight_err"] < 1e-6
        assert report["extra_err"] == 0.0 and report["unused_grad"]
        assert report["keys"] == ["module.extra", "module.unused"] and report["has_module"]
        assert report["after_err"] < 1e-7 and report["running_mean_err"] == 0.0
    assert r0["weights"] == r1["weights"]  # bit for bit
    assert r0["inside"] != r1["inside"]  # no_sync: each rank kept its own gradient
