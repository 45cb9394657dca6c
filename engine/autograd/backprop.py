"""The backward pass over recorded nodes (Kahn's algorithm), for .backward() and autograd.grad."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend, function
from engine.function import RETAIN_GRAD, AccumulateGrad
from engine.grad_mode import _GradState

if TYPE_CHECKING:
    from engine.tensor import Tensor


# Callbacks queued while a backward pass runs (queue_callback), and how deep passes are nested.
_queued: list[Callable[[], None]] = []
_depth = [0]


def queue_callback(callback: Callable[[], None]) -> None:
    """Run callback once the outermost backward pass in progress has finished (PyTorch's
    Variable._execution_engine.queue_callback): DistributedDataParallel averages gradients there,
    after every leaf's .grad holds its sum. Dropped when the pass fails."""
    _queued.append(callback)


def is_queued(callback: Callable[[], None]) -> bool:
    """Whether callback waits for the end of the backward pass in progress (the queue is emptied
    when the pass ends, failed or not, so a failed pass leaves nothing behind)."""
    return callback in _queued


def _dependencies(root: Any) -> dict[Any, int]:
    """For every node below root, how many graph edges feed it a gradient."""
    deps: dict[Any, int] = {}
    stack = [root]
    while stack:
        for child in stack.pop()._next:
            if child is not None:
                if child in deps:
                    deps[child] += 1
                else:
                    deps[child] = 1
                    stack.append(child)
    return deps


def run_backward(root: Tensor, grad: Any, retain_graph: bool = False) -> None:
    """Propagate grad (an array shaped like root) to every leaf that requires grad."""
    run_graph(root._grad_node(), grad, retain_graph)


def run_graph(start: Any, grad: Any, retain_graph: bool = False,
              capture: dict[Any, Any] | None = None) -> None:
    """Run backward from node start with its incoming gradient.

    Without capture, leaves accumulate into .grad. With capture (node -> None), the gradient
    arriving at each of those nodes is stored there instead, no .grad changes, and only nodes
    on a path to a captured one run (autograd.grad).
    """
    # node -> (gradient, owned): owned arrays were made by this pass and may be stored in .grad
    # without a copy; others (the caller's gradient, views, arrays passed through) are copied.
    grads: dict[Any, tuple[Any, bool]] = {start: (grad, False)}
    previous = _GradState.enabled
    _GradState.enabled = False  # backward itself records no graph (no create_graph support)
    deps = _dependencies(start)
    expand = None if capture is None else _expanding(start, capture)
    ready = [start]  # nodes whose every incoming gradient has arrived
    _depth[0] += 1
    try:
        while ready:
            node = ready.pop()
            entry = grads.pop(node, None)
            if expand is not None:
                if entry is not None and node in capture:
                    capture[node] = _leaf_hooks(node, entry[0])
                if node not in expand:  # no captured node below: not run, not freed
                    _schedule(node, deps, ready)
                    continue
            if entry is None:  # nothing flowed here (every gradient into it was None)
                _release_unless(node, retain_graph)
                _schedule(node, deps, ready)
                continue
            g, owned = entry
            if type(g) is np.ndarray:
                _run_node(node, g, owned, grads, deps, ready, retain_graph)
            else:  # CuPy: run the node on the GPU its gradient is on
                with backend.array_device(g):
                    _run_node(node, g, owned, grads, deps, ready, retain_graph)
    finally:
        _GradState.enabled = previous
        _depth[0] -= 1
        pending = _take_queued() if not _depth[0] else ()
    for callback in pending:
        callback()


def _take_queued() -> list[Callable[[], None]]:
    pending = _queued[:]
    _queued.clear()
    return pending


def _run_node(node: Any, g: Any, owned: bool, grads: dict[Any, tuple[Any, bool]],
              deps: dict[Any, int], ready: list[Any], retain_graph: bool) -> None:
    """Run one node's backward with its summed gradient g and pass the results to its inputs."""
    if type(node) is AccumulateGrad:
        node.accumulate(g, owned)
        return
    if node._freed or node._out_ref is not None:
        node._check_saved()
    else:  # the check inlined for the common case: compare the saved versions only
        for t, v in node._saved_versions:
            if t._vc[0] != v:
                node._check_saved()  # raises with the message
    if node._pre_hooks:
        hooks = node._pre_hooks
        for key, hook in tuple(hooks.items()):  # a hook may remove itself
            if key != RETAIN_GRAD:
                result = hook(function._wrap(g, backend.device_of(g)))
                if result is not None:
                    g = result._data
        keep = hooks.get(RETAIN_GRAD)
        if keep is not None:  # last: .grad is the gradient after every hook, as in PyTorch
            keep(function._wrap(g, backend.device_of(g)))
    in_grads = node.backward(g)
    if type(in_grads) is not tuple:
        in_grads = (in_grads,)
    children = node._next
    if len(in_grads) < len(children):
        in_grads += (None,) * (len(children) - len(in_grads))
    for child, child_grad in zip(children, in_grads, strict=False):
        if child is None:
            continue
        if child_grad is not None:
            seen = grads.get(child)
            if seen is None:
                # g itself may go to several inputs (add): never owned
                grads[child] = (child_grad, child_grad is not g)
            elif type(child_grad) is np.ndarray:
                grads[child] = (seen[0] + child_grad, True)
            else:  # a gradient that crossed devices (ToDevice) is summed on its own GPU
                with backend.array_device(child_grad):
                    grads[child] = (seen[0] + child_grad, True)
        deps[child] -= 1
        if deps[child] == 0:
            ready.append(child)
    if not retain_graph:
        node._release()


def _expanding(start: Any, targets: dict[Any, Any]) -> set[Any]:
    """The nodes below start (itself included) with a target somewhere below them."""
    order: list[Any] = []  # post-order: every node after all of its children
    seen, stack = {start}, [(start, iter(start._next))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child is not None and child not in seen:
                seen.add(child)
                stack.append((child, iter(child._next)))
                break
        else:
            stack.pop()
            order.append(node)
    needed: set[Any] = set()
    expand: set[Any] = set()
    for node in order:
        if any(c in needed for c in node._next if c is not None):
            expand.add(node)
            needed.add(node)
        elif node in targets:
            needed.add(node)
    return expand


def _leaf_hooks(node: Any, grad: Any) -> Any:
    """A leaf's gradient after its tensor hooks (autograd.grad runs them as PyTorch does)."""
    if type(node) is AccumulateGrad and node.variable._hooks:
        for hook in tuple(node.variable._hooks.values()):
            result = hook(node.variable._wrap(grad))
            if result is not None:
                grad = result._data
    return grad


def _release_unless(node: Any, retain_graph: bool) -> None:
    if not retain_graph and type(node) is not AccumulateGrad:
        node._release()


def _schedule(node: Any, deps: dict[Any, int], ready: list[Any]) -> None:
    """Count node's edges as done so the nodes below it still run."""
    for child in node._next:
        if child is not None:
            deps[child] -= 1
            if deps[child] == 0:
                ready.append(child)
