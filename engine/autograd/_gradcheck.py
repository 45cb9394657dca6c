"""gradcheck: backward's gradients against float64 central differences, as torch's gradcheck."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend
from engine.grad_mode import no_grad

if TYPE_CHECKING:
    from engine.tensor import Tensor


_TORCH_OPTIONS = frozenset({
    "nondet_tol", "check_undefined_grad", "check_grad_dtypes", "check_batched_grad",
    "check_batched_forward_grad", "check_forward_ad", "check_backward_ad", "fast_mode", "masked",
})


class GradcheckError(RuntimeError):
    """Analytical and numerical gradients disagree."""


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    **torch_options: Any,
) -> bool:
    """Compare backward's gradients with central differences in float64, as torch's gradcheck.

    PyTorch's further keywords (nondet_tol, check_undefined_grad, check_batched_grad, fast_mode,
    check_forward_ad, ...) are accepted so calls port unchanged; the extra checks they select are
    not run here.
    """
    unknown = set(torch_options) - _TORCH_OPTIONS
    if unknown:
        raise TypeError(f"gradcheck() got an unexpected keyword argument '{min(unknown)}'")
    from engine.tensor import Tensor  # cycle: tensor_autograd imports engine.autograd

    inputs = tuple(inputs) if isinstance(inputs, Sequence) else (inputs,)
    tensors = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in tensors:
        if t.dtype.np != np.float64:
            raise ValueError("gradcheck expects float64 inputs that require grad")
        if not backend.is_writeable(t._data):
            t._data = t._data.copy()  # a broadcast view cannot be perturbed in place
    # Numerical Jacobian, one column per input element: 2 forwards per element.
    numeric = [_numeric_columns(func, inputs, t, eps) for t in tensors]
    outs = _as_list(func(*inputs))
    for out_index, out in enumerate(outs):
        if not out.requires_grad:
            continue
        size = int(out._data.size)
        for k in range(size):
            for t in tensors:
                t.grad = None
            seed = np.zeros(size, dtype=np.float64)
            seed[k] = 1.0
            out.backward(Tensor(seed.reshape(out.shape), dtype=seed.dtype, device=out._device),
                         retain_graph=True)
            for t, columns in zip(tensors, numeric, strict=True):
                analytic = (np.zeros(t.shape) if t.grad is None
                            else backend.to_numpy(t.grad._data).astype(np.float64))
                expected = columns[out_index][k].reshape(t.shape)
                if not np.allclose(analytic, expected, atol=atol, rtol=rtol):
                    for u in tensors:
                        u.grad = None
                    if not raise_exception:
                        return False
                    raise GradcheckError(
                        f"Jacobian mismatch for output {out_index} element {k} w.r.t. an input of "
                        f"shape {tuple(t.shape)}:\nnumerical: {expected}\nanalytical: {analytic}"
                    )
    for t in tensors:
        t.grad = None
    return True


def _as_list(out: Any) -> list[Any]:
    return list(out) if isinstance(out, tuple | list) else [out]


def _numeric_columns(func: Any, inputs: tuple, t: Tensor, eps: float) -> list[np.ndarray]:
    """d out / d t by central differences: per output, an (out.numel, t.numel) matrix.

    Each element of t's array is changed in place (through its own strides, so non-contiguous
    inputs stay non-contiguous) and restored.
    """
    data = t._data
    columns: list[list[np.ndarray]] = []
    with no_grad():
        for i in range(int(data.size)):
            index = np.unravel_index(i, data.shape)
            original = float(data[index])
            data[index] = original + eps
            plus = [_flat(o) for o in _as_list(func(*inputs))]
            data[index] = original - eps
            minus = [_flat(o) for o in _as_list(func(*inputs))]
            data[index] = original
            columns.append([(p - m) / (2 * eps) for p, m in zip(plus, minus, strict=True)])
    if not columns:
        return [np.zeros((int(o._data.size), 0)) for o in _as_list(func(*inputs))]
    return [np.stack([c[j] for c in columns], axis=1) for j in range(len(columns[0]))]


def _flat(out: Any) -> np.ndarray:
    return backend.to_numpy(out._data).astype(np.float64).reshape(-1)
