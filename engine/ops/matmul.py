"""Matrix product with NumPy's matmul semantics: 1-D, 2-D, batched and broadcast batch dims."""

from __future__ import annotations

from typing import Any

from engine.function import Function
from engine.ops.util import unbroadcast


def check_matmul_shapes(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    """Raise PyTorch-style errors that quote both shapes."""
    if not a_shape or not b_shape:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {len(a_shape)}D "
            f"and {len(b_shape)}D"
        )
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if a_shape[-1] != inner_b:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_fmt(a_shape)} and {_fmt(b_shape)})"
        )


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


class MatMul(Function):
    def forward(self, a: Any, b: Any) -> Any:
        check_matmul_shapes(a.shape, b.shape)
        self.a, self.b = a, b
        return a @ b

    def backward(self, g: Any) -> tuple:
        a, b = self.a, self.b
        # Lift 1-D operands to matrices so one formula covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # Restore the dims matmul dropped: the trailing one of a 1-D b first, then a 1-D a's.
        g2 = g[..., None] if b.ndim == 1 else g
        g2 = g2[..., None, :] if a.ndim == 1 else g2
        ga = gb = None
        # Reshape only when needed: a view would cost a copy when stored in .grad.
        if self.needs_input_grad[0]:
            ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape)
            ga = ga if a.ndim > 1 else ga.reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape)
            gb = gb if b.ndim > 1 else gb.reshape(b.shape)
        return ga, gb
