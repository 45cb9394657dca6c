"""Embedding lookup as one op: rows of a weight matrix gathered by integer indices."""

from __future__ import annotations

from typing import Any

from engine.backend import get_array_module, is_numpy
from engine.function import Function


class Embedding(Function):
    """out = weight[indices]; backward scatters (adds) the gradient into the rows it read.

    padding_idx: that row gets no gradient. scale_grad_by_freq: each row's gradient is divided by
    how often its index occurs in the batch, as PyTorch does.
    """

    saves_inputs = False

    def forward(self, weight: Any, indices: Any, padding_idx: int | None = None,
                scale_grad_by_freq: bool = False) -> Any:
        rows = weight.shape[0]
        self.rows, self.padding_idx, self.scale = rows, padding_idx, scale_grad_by_freq
        xp = get_array_module(weight)
        if is_numpy(xp):  # the indices were checked on the host (functional.embedding)
            self.indices = indices
            return weight[indices]
        # A GPU is not stopped each step to check the indices on the host, and CuPy would wrap
        # an index out of range: its rows are NaN instead.
        bad = (indices < 0) | (indices >= rows)
        self.indices = xp.where(bad, 0, indices)
        out = weight[self.indices]
        return xp.where(bad[..., None], xp.nan, out).astype(out.dtype, copy=False)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        flat = self.indices.reshape(-1)
        g2 = g.reshape(flat.shape[0], -1)
        if self.scale:
            counts = xp.bincount(flat, minlength=self.rows)
            g2 = g2 / counts[flat].astype(g.dtype)[:, None]
        grad = xp.zeros((self.rows, g2.shape[1]), dtype=g.dtype)
        xp.add.at(grad, flat, g2)  # repeated indices add up
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        return grad


def renorm_rows_(weight: Any, indices: Any, max_norm: float, norm_type: float) -> bool:
    """Scale the rows of weight that indices use down to norm max_norm, in place (no gradient).

    Returns whether any row changed. The 1e-7 matches PyTorch's embedding_renorm_.
    """
    xp = get_array_module(weight)
    on_host = is_numpy(xp)
    # A GPU keeps repeated rows (they get the same value) and rescales every row, by 1 where it
    # is short enough: unique() and any() would read values back to the host each step.
    rows = xp.unique(indices.reshape(-1)) if on_host else indices.reshape(-1)
    selected = weight[rows]
    if norm_type == float("inf"):
        norms = xp.abs(selected).max(axis=1)
    else:
        norms = (xp.abs(selected) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    over = norms > max_norm
    if not on_host:
        scale = xp.where(over, max_norm / (norms + 1e-7), 1).astype(weight.dtype)
        weight[rows] = selected * scale[:, None]
        return True
    if not bool(over.any()):
        return False
    scale = (max_norm / (norms[over] + 1e-7)).astype(weight.dtype)
    weight[rows[over]] = selected[over] * scale[:, None]
    return True
