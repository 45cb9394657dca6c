"""The backward pass over recorded nodes, and a float64 numerical gradient check."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.function import AccumulateGrad
from engine.grad_mode import no_grad

if TYPE_CHECKING:
    from engine.tensor import Tensor


def _topological_order(root: Any) -> list[Any]:
    """Nodes reachable from root, each after every node that feeds it a gradient."""
    order: list[Any] = []
    seen = {id(root)}
    stack = [(root, iter(root.next_functions))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(child.next_functions)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def run_backward(root: Tensor, grad: Any, retain_graph: bool = False) -> None:
    """Propagate grad (an array shaped like root) to every leaf that requires grad."""
    start = root._grad_node()
    grads: dict[int, Any] = {id(start): grad}
    owned: dict[int, bool] = {id(start): False}
    for node in _topological_order(start):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if isinstance(node, AccumulateGrad):
            node.accumulate(g, owned.pop(id(node)))
            continue
        node._check_saved()
        for hook in getattr(node, "_pre_hooks", ()):
            result = hook(_wrap(g, root))
            if result is not None:
                g = result.data
        with no_grad():
            in_grads = node.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for child, child_grad in zip(node.next_functions, in_grads, strict=False):
            if child is None or child_grad is None:
                continue
            key = id(child)
            if key in grads:
                grads[key] = grads[key] + child_grad
                owned[key] = True
            else:
                grads[key] = child_grad
                # The same array may go to several inputs (add) or be a view of grad: copy on store.
                owned[key] = False
        if not retain_graph:
            node._release()


def _wrap(array: Any, like: Tensor) -> Tensor:
    return like._wrap_grad(array)


class GradcheckError(RuntimeError):
    """Analytical and numerical gradients disagree."""


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare backward's gradients with central differences in float64, as torch's gradcheck."""
    from engine.tensor import Tensor

    inputs = tuple(inputs) if isinstance(inputs, Sequence) else (inputs,)
    tensors = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in tensors:
        if t.dtype.np != np.float64:
            raise ValueError("gradcheck expects float64 inputs that require grad")

    def outputs() -> list[Tensor]:
        out = func(*inputs)
        return list(out) if isinstance(out, tuple | list) else [out]

    for out_index, out in enumerate(outputs()):
        if not out.requires_grad:
            continue
        flat_out = out.detach().numpy().reshape(-1)
        for k in range(flat_out.size):
            for t in tensors:
                t.grad = None
            seed = np.zeros(flat_out.size)
            seed[k] = 1.0
            fresh = outputs()[out_index]
            fresh.backward(Tensor._from_array(seed.reshape(out.shape), fresh._device))
            for t in tensors:
                analytic = np.zeros(t.shape) if t.grad is None else t.grad.detach().numpy()
                numeric = _numeric_row(func, inputs, t, out_index, k, eps)
                if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
                    if not raise_exception:
                        return False
                    raise GradcheckError(
                        f"Jacobian mismatch for output {out_index} element {k} w.r.t. an input of "
                        f"shape {tuple(t.shape)}:\nnumerical: {numeric}\nanalytical: {analytic}"
                    )
    for t in tensors:
        t.grad = None
    return True


def _numeric_row(func: Any, inputs: tuple, t: Tensor, out_index: int, k: int, eps: float) -> Any:
    """d out[k] / d t by central differences, changing t's array in place and restoring it."""
    if not t.data.flags.c_contiguous:
        t.data = np.ascontiguousarray(t.data)  # so the flat view below writes through
    data = t.data
    flat = data.reshape(-1)
    row = np.zeros(flat.size)
    with no_grad():
        for i in range(flat.size):
            original = flat[i].item()
            flat[i] = original + eps
            plus = _pick(func(*inputs), out_index).detach().numpy().reshape(-1)[k]
            flat[i] = original - eps
            minus = _pick(func(*inputs), out_index).detach().numpy().reshape(-1)[k]
            flat[i] = original
            row[i] = (plus - minus) / (2 * eps)
    return row.reshape(data.shape)


def _pick(out: Any, index: int) -> Tensor:
    return out[index] if isinstance(out, tuple | list) else out
