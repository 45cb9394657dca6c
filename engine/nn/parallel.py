"""engine.nn.parallel: DistributedDataParallel, PyTorch's data-parallel wrapper, over MPI.

The wrapper's forward calls the module. Once a backward pass through its output has finished, the
gradients of all parameters are averaged across the ranks by one all-reduce per (device, dtype)
over a flat buffer kept between steps (a parameter that got no gradient on any rank keeps None),
so every rank then applies the same optimizer step. Buffers (BatchNorm running statistics) are
broadcast from rank 0 when the wrapper is built and after every averaging; where PyTorch
broadcasts them at the start of each forward, this keeps every rank's whole model identical
between steps, so evaluation sees the same buffers everywhere. The batch statistics a training
forward uses stay per-rank (there is no SyncBatchNorm). state_dict keys carry PyTorch's "module."
prefix; save ``ddp.module.state_dict()`` for a checkpoint that loads without the wrapper.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine import backend
from engine import distributed as dist
from engine.autograd.backprop import is_queued, queue_callback
from engine.grad_mode import _GradState
from engine.nn.module import Module
from engine.tensor_inplace import mark_written

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """Parameters of one device and dtype, and the flat buffer their gradients are summed in.

    The buffer holds every gradient end to end, then one count per parameter of the ranks that
    had a gradient for it, so all ranks agree on which parameters stay without one.
    """

    def __init__(self, params: list[Any]) -> None:
        self.params = params
        self.spans: list[tuple[int, int]] = []
        start = 0
        for p in params:
            self.spans.append((start, start + p.numel()))
            start += p.numel()
        self.size = start
        xp = backend.get_array_module(params[0]._data)
        self.flat = xp.empty(start + len(params), dtype=params[0]._data.dtype)

    def reduce(self, world: int) -> None:
        flat, n = self.flat, self.size
        for i, (p, (lo, hi)) in enumerate(zip(self.params, self.spans, strict=True)):
            if p._grad is None:
                flat[lo:hi] = 0
                flat[n + i] = 0
            else:
                flat[lo:hi] = p._grad._data.reshape(-1)
                flat[n + i] = 1
        dist.all_reduce(flat, dist.ReduceOp.SUM)
        flat[:n] /= world
        counts = backend.to_numpy(flat[n:])  # one read of the counts (a device sync on GPU)
        for i, (p, (lo, hi)) in enumerate(zip(self.params, self.spans, strict=True)):
            if counts[i] == 0:
                continue
            mean = flat[lo:hi].reshape(p._data.shape)
            if p._grad is None:
                p.grad = p._wrap(mean.copy())
            else:
                p._grad._data[...] = mean
                mark_written(p._grad)


class _Reducer:
    """Averages the gradients of params once per backward pass (queued by the output's hook)."""

    def __init__(self, params: list[Any], after: Any) -> None:
        groups: dict[tuple[str, Any], list[Any]] = {}
        for p in params:
            groups.setdefault((p._device, p._data.dtype), []).append(p)
        self.buckets = [_Bucket(ps) for ps in groups.values()]
        self.after = after  # called once the gradients are averaged
        self.last_seconds = 0.0  # time of the last averaging (for benchmarks)

    @property
    def queued(self) -> bool:
        """Whether the averaging waits for the end of the backward pass in progress."""
        # Asked of the autograd queue, not kept in a flag: a pass that fails drops its queued
        # callbacks, and a flag left set would skip the averaging of every later pass.
        return is_queued(self.run)

    def hook(self, grad: Any) -> None:
        """Tensor hook on the wrapper's output: queue the averaging for the pass's end (once,
        however many of the outputs the pass goes through)."""
        if not self.queued:
            queue_callback(self.run)

    def run(self) -> None:
        start = time.perf_counter()
        world = dist.get_world_size()
        for bucket in self.buckets:
            bucket.reduce(world)
        self.after()
        self.last_seconds = time.perf_counter() - start


class DistributedDataParallel(Module):
    """Data-parallel training of module across the ranks of engine.distributed's default group.

    Build it after init_process_group on every rank; rank 0's parameters and buffers are copied
    to all. device_ids, output_device, dim, bucket_cap_mb, find_unused_parameters,
    gradient_as_bucket_view and static_graph are accepted for PyTorch's signature: gradients
    go in one bucket per device and dtype, and parameters without a gradient are always allowed.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, process_group: Any = None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, **kwargs: Any) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a Module, got {type(module).__name__}")
        if not dist.is_initialized():
            raise ValueError("Default process group has not been initialized, please make sure "
                             "to call init_process_group.")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self._world = dist.get_world_size()
        params = [p for p in module.parameters() if p.requires_grad]
        self._reducer = _Reducer(params, self._sync_buffers) if params and self._world > 1 \
            else None
        self._sync_module_states()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """module(*args, **kwargs); a backward through the result averages the gradients."""
        out = self.module(*args, **kwargs)
        if self._reducer is not None and self.require_backward_grad_sync and \
                _GradState.enabled:
            for t in _tensors(out):
                if t.requires_grad:
                    t.register_hook(self._reducer.hook)
        return out

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes in this block accumulate local gradients without averaging them;
        the first backward after it averages the accumulated sums."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _sync_module_states(self) -> None:
        """Rank 0's parameters and buffers to every rank (as PyTorch does when it is built)."""
        if self._world == 1:
            return
        for p in self.module.parameters():
            dist.broadcast(p, src=0)
        self._sync_buffers(force=True)

    def _sync_buffers(self, force: bool = False) -> None:
        if self._world == 1 or not (self.broadcast_buffers or force):
            return
        for b in self.module.buffers():
            dist.broadcast(b, src=0)

    @property
    def last_reduce_seconds(self) -> float:
        """Seconds the last gradient averaging took, buffers included (beyond PyTorch)."""
        return 0.0 if self._reducer is None else self._reducer.last_seconds


def _tensors(out: Any) -> Iterator[Any]:
    """The tensors of a forward's output: itself, or the items of a tuple, list or dict."""
    if hasattr(out, "_data"):
        yield out
    elif isinstance(out, tuple | list):
        for item in out:
            yield from _tensors(item)
    elif isinstance(out, dict):
        for item in out.values():
            yield from _tensors(item)
