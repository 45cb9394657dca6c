"""Max pooling's tiling path (kernel == stride, pooled one axis at a time) against the general
per-offset path and PyTorch, forward and backward, with ties, cropped edges and the cases that
fall back; and no index kept when no gradient is wanted."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op

import engine as en
import engine.nn.functional as F
from engine.ops import pool
from engine.ops.pool import MaxPool2d

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TILED = [
    # kernel, stride, padding, dilation, ceil_mode, input shape: all take the tiling path
    (2, None, 0, 1, False, (2, 3, 8, 6)),
    (2, None, 0, 1, False, (1, 2, 7, 9)),  # odd sizes: the last row and column are cropped
    (3, None, 0, 1, False, (1, 2, 9, 7)),  # three offsets per axis: uint8 indices
    ((2, 3), None, 0, 1, False, (2, 1, 6, 9)),
    ((1, 2), None, 0, 1, False, (1, 2, 3, 4)),  # one row per window: no row index
    ((2, 1), None, 0, 1, False, (1, 2, 4, 3)),
    (1, None, 0, 1, False, (1, 2, 3, 3)),  # 1x1: a copy
    (2, None, 0, 1, True, (1, 2, 6, 4)),  # ceil mode on sizes that divide: same windows
]
FALLBACK = [
    (2, None, 0, 1, True, (1, 2, 7, 5)),  # ceil mode adds a partial window
    (2, None, 1, 1, False, (1, 2, 6, 6)),  # padding
    (2, None, 0, 2, False, (1, 2, 8, 8)),  # dilation
    (2, 1, 0, 1, False, (1, 2, 5, 5)),  # overlapping windows
]


def tied(shape: tuple, seed: int = 0) -> np.ndarray:
    """Values on a coarse grid after a ReLU: many windows hold ties, many are all zero."""
    rng = np.random.default_rng(seed)
    return np.maximum(np.round(rng.standard_normal(shape) * 2) / 2, 0).astype(np.float32)


def pool_and_grad(x: np.ndarray, args: tuple, general: bool = False) -> tuple:
    k, s, p, d, ceil = args
    t = en.tensor(x, requires_grad=True)
    if general:  # the per-offset path, for every case
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(pool, "_tiles", lambda *a: False)
            out = F.max_pool2d(t, k, s, p, d, ceil)
    else:
        out = F.max_pool2d(t, k, s, p, d, ceil)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    out.backward(en.tensor(g))
    return out.detach().numpy(), t.grad.numpy(), g


def torch_pool_and_grad(x: np.ndarray, args: tuple, g: np.ndarray) -> tuple:
    k, s, p, d, ceil = args
    t = torch.tensor(x, requires_grad=True)
    out = TF.max_pool2d(t, k, s, p, d, ceil)
    out.backward(torch.from_numpy(g))
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("case", TILED, ids=str)
def test_tiling_path_matches_general_path_and_torch_with_ties(case: tuple) -> None:
    *args, shape = case
    assert pool._tiles(shape, *[(v, v) if isinstance(v, int) else v for v in (
        args[0], args[1] or args[0], args[2], args[3])],
        tuple(TF.max_pool2d(torch.zeros(shape), *args).shape[2:]))
    x = tied(shape)
    out, gx, g = pool_and_grad(x, tuple(args))
    ref_out, ref_gx = torch_pool_and_grad(x, tuple(args), g)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(gx, ref_gx)  # the same element of a tie gets the gradient
    gen_out, gen_gx, _ = pool_and_grad(x, tuple(args), general=True)
    np.testing.assert_array_equal(gen_out, out)
    np.testing.assert_array_equal(gen_gx, gx)


@pytest.mark.parametrize("case", FALLBACK, ids=str)
def test_cases_that_fall_back_match_torch_with_ties(case: tuple) -> None:
    *args, shape = case
    x = tied(shape, seed=2)
    out, gx, g = pool_and_grad(x, tuple(args))
    ref_out, ref_gx = torch_pool_and_grad(x, tuple(args), g)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(gx, ref_gx, rtol=1e-6, atol=1e-6)  # overlaps sum in any order


@pytest.mark.parametrize("case", TILED[:4], ids=str)
def test_tiling_path_gradcheck(case: tuple) -> None:
    k, s, p, d, ceil, shape = case
    check_op([shape], engine_fn=lambda x: F.max_pool2d(x, k, s, p, d, ceil),
             torch_fn=lambda x: TF.max_pool2d(x, k, s, p, d, ceil))


def test_tiling_path_on_non_contiguous_input_and_output_is_fresh() -> None:
    x = tied((2, 3, 8, 6))
    t = en.tensor(np.ascontiguousarray(x.transpose(1, 0, 2, 3))).permute(1, 0, 2, 3)
    out = F.max_pool2d(t, 2)
    np.testing.assert_array_equal(out.numpy(), TF.max_pool2d(torch.tensor(x), 2).numpy())
    ident = F.max_pool2d(t, 1)
    np.testing.assert_array_equal(ident.numpy(), x)
    assert not np.shares_memory(ident.numpy(), t.numpy())


def test_no_index_kept_without_grad() -> None:
    x = tied((1, 2, 6, 6))
    with en.no_grad():
        t = en.tensor(x, requires_grad=True)
        out = F.max_pool2d(t, 2)
        assert out.grad_fn is None
    ctx = MaxPool2d.__new__(MaxPool2d)  # a bare forward, as the export runner calls it
    bare = ctx.forward(x, (2, 2), (2, 2))
    assert not ctx.tiled and ctx.index is None  # rows first, then columns, no index
    np.testing.assert_array_equal(bare, out.numpy())
    general = MaxPool2d.__new__(MaxPool2d)
    general.forward(x, (3, 3), (2, 2), (1, 1))
    assert general.index is None


@pytest.mark.parametrize("case", TILED + FALLBACK, ids=str)
def test_no_grad_forward_matches_torch(case: tuple) -> None:
    *args, shape = case
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    with en.no_grad():
        out = F.max_pool2d(en.tensor(x), *args).numpy()
    np.testing.assert_array_equal(out, TF.max_pool2d(torch.from_numpy(x), *args).numpy())


def test_index_of_more_than_256_offsets_does_not_wrap() -> None:
    x = np.zeros((1, 1, 17, 17), dtype=np.float32)
    x[0, 0, 16, 16] = 1.0  # the maximum sits at offset 288 of the one 17x17 window
    t = en.tensor(x, requires_grad=True)
    F.max_pool2d(t, 17, 1).sum().backward()
    expected = np.zeros_like(x)
    expected[0, 0, 16, 16] = 1.0
    np.testing.assert_array_equal(t.grad.numpy(), expected)


@pytest.mark.parametrize("case", TILED, ids=str)
def test_no_grad_tiled_max_in_chunks_of_a_few_images(case: tuple, monkeypatch) -> None:
    *args, shape = case
    monkeypatch.setattr(pool, "_CHUNK", 40)  # 1-2 images per chunk, a short last chunk
    x = np.random.default_rng(4).standard_normal((5, *shape[1:])).astype(np.float32)
    with en.no_grad():
        out = F.max_pool2d(en.tensor(x), *args).numpy()
    np.testing.assert_array_equal(out, TF.max_pool2d(torch.from_numpy(x), *args).numpy())


@pytest.mark.parametrize(("fn", "shape", "kwargs"), [
    ("max_pool2d", (1, 4, 1, 3), {}),
    ("max_pool2d", (4, 1, 5), {}),  # unbatched
    ("max_pool2d", (2, 3, 3, 3), {"dilation": 3}),
    ("avg_pool2d", (1, 4, 3, 1), {}),
])
def test_an_output_smaller_than_one_window_raises_as_torch(fn: str, shape: tuple,
                                                           kwargs: dict) -> None:
    # It gave an empty tensor, where PyTorch refuses
    x = np.ones(shape, np.float32)
    with pytest.raises(RuntimeError) as theirs:
        getattr(TF, fn)(torch.from_numpy(x), 2, **kwargs)
    with pytest.raises(RuntimeError) as ours:
        getattr(F, fn)(en.tensor(x), 2, **kwargs)
    assert str(ours.value) == str(theirs.value)
    assert "Output size is too small" in str(ours.value)
    if fn == "max_pool2d" and len(shape) == 4:  # the ReLU-fused path refuses it the same way
        net = en.nn.Sequential(en.nn.ReLU(), en.nn.MaxPool2d(2, **kwargs))
        with pytest.raises(RuntimeError, match="Output size is too small"):
            net(en.tensor(x))
