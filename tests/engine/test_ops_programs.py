"""Small PyTorch-style programs mixing the new ops, run with engine and with torch: the loss and
every gradient must agree (what a script ported by changing its import would see)."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en

torch = pytest.importorskip("torch")


def _attention_program(lib, x, w, idx):  # noqa: ANN001, ANN202 - works on both libraries
    q = lib.einsum("bqd,de->bqe", x, w)
    scores = q @ q.transpose(-1, -2) / q.shape[-1] ** 0.5
    mask = lib.triu(lib.ones(4, 4, dtype=lib.bool), diagonal=1)
    attn = scores.masked_fill(mask, float("-inf")).softmax(-1)
    out = attn @ q
    top = out.topk(2, dim=-1).values.sum()
    normed = out / out.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    picked = normed.cumsum(1).flip(1).gather(2, idx)
    halves = lib.stack(out.chunk(2, dim=-1)).square().mean()
    return top + picked.sum() + halves + lib.log1p(out.abs()).mean()


def _scatter_program(lib, x, w, idx):  # noqa: ANN001, ANN202
    h = lib.addmm(w[0], x.reshape(-1, x.shape[-1]), w).relu()  # (8, 6)
    pooled = lib.zeros(3, h.shape[1]).index_add(0, idx.reshape(-1)[:8] % 3, h)
    ranks = pooled.sort(dim=1, descending=True).values
    spread = lib.cdist(pooled, pooled).triu(1).sum()
    moments = lib.var_mean(pooled, 1)[0].sum()
    return ranks[:, :2].sum() + spread + moments + pooled.prod(dim=0).sum() * 1e-3


@pytest.mark.parametrize("program", [_attention_program, _scatter_program])
def test_program_matches_torch(program) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 6)), rng.standard_normal((6, 6))
    idx = rng.integers(0, 6, (2, 4, 3))
    results = {}
    for lib in (en, torch):
        xt = lib.tensor(x, dtype=lib.float32, requires_grad=True)
        wt = lib.tensor(w, dtype=lib.float32, requires_grad=True)
        loss = program(lib, xt, wt, lib.tensor(idx))
        loss.backward()
        results[lib.__name__] = (loss.item(), xt.grad.numpy(), wt.grad.numpy())
    ours, theirs = results["engine"], results["torch"]
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-4, atol=1e-5)
