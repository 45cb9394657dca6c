"""conv2d's paths against PyTorch: the no-grad forward that builds columns a few images at a time
(whole, partial and single-image chunks), a frozen weight (input gradient only), and ReLU keeping
no mask without grad."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine.ops import conv
from engine.ops.elementwise import Relu

torch = pytest.importorskip("torch")
TF = torch.nn.functional

CASES = [
    # x shape, weight shape, stride, padding, dilation, groups
    ((7, 3, 9, 8), (4, 3, 3, 3), 1, 1, 1, 1),
    ((7, 2, 9, 8), (3, 2, 3, 2), 2, (1, 0), 1, 1),
    ((7, 4, 8, 8), (6, 2, 3, 3), 1, 2, 2, 2),
    ((5, 1, 10, 7), (2, 1, 1, 3), (2, 1), 0, 1, 1),
]


def data(xs: tuple, ws: tuple, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32),
            rng.standard_normal(ws[0]).astype(np.float32))


def torch_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, s: object, p: object,
               d: object, g: int) -> np.ndarray:
    return TF.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                     None if b is None else torch.from_numpy(b), s, p, d, g).numpy()


@pytest.mark.parametrize("chunk", [1, 50, 200, 1 << 18], ids=lambda c: f"chunk{c}")
@pytest.mark.parametrize("case", CASES, ids=str)
def test_no_grad_forward_in_chunks_matches_torch(case: tuple, chunk: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    xs, ws, s, p, d, g = case
    x, w, b = data(xs, ws)
    monkeypatch.setattr(conv, "_CHUNK", chunk)  # 1: one image per step; 1 << 18: all at once
    with en.no_grad():
        for bias in (b, None):
            out = F.conv2d(en.tensor(x), en.tensor(w), None if bias is None else en.tensor(bias),
                           s, p, d, g).numpy()
            assert out.flags.c_contiguous
            np.testing.assert_allclose(out, torch_conv(x, w, bias, s, p, d, g),
                                       rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_frozen_weight_gives_input_gradient_only(case: tuple,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    xs, ws, s, p, d, g = case
    x, w, b = data(xs, ws, seed=1)
    monkeypatch.setattr(conv, "_CHUNK", 100)  # several chunks, the last one partial
    t = en.tensor(x, requires_grad=True)
    out = F.conv2d(t, en.tensor(w), en.tensor(b), s, p, d, g)
    grad = np.random.default_rng(2).standard_normal(out.shape).astype(np.float32)
    out.backward(en.tensor(grad))
    tx = torch.tensor(x, requires_grad=True)
    ref = TF.conv2d(tx, torch.from_numpy(w), torch.from_numpy(b), s, p, d, g)
    ref.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_grad_forward_keeps_columns_and_no_grad_forward_does_not() -> None:
    x, w, b = data((2, 3, 5, 5), (4, 3, 3, 3))
    xt, wt = en.tensor(x), en.tensor(w, requires_grad=True)
    assert F.conv2d(xt, wt, padding=1).grad_fn.cols.shape == (2, 27, 25)  # per image: K small
    wide = en.tensor(np.zeros((5, 4, 3, 3), np.float32), requires_grad=True)
    assert F.conv2d(en.tensor(np.zeros((2, 4, 5, 5), np.float32)), wide,
                    padding=1).grad_fn.cols.shape == (1, 36, 50)  # one large GEMM
    bare = conv.Conv2d.__new__(conv.Conv2d)  # a forward with no graph, as export calls ops
    out = bare.forward(x, w, b, pads=(1, 1, 1, 1))
    assert not hasattr(bare, "cols")
    np.testing.assert_allclose(out, torch_conv(x, w, b, 1, 1, 1, 1), rtol=1e-4, atol=1e-4)


def test_relu_keeps_no_mask_without_grad() -> None:
    x = np.array([[-1.0, 0.0, 2.0, -np.inf]], dtype=np.float32)
    bare = Relu.__new__(Relu)
    out = bare.forward(x)
    assert not hasattr(bare, "mask")
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0, 0.0]])
    assert not np.signbit(out).any()  # never -0.0
    with en.no_grad():
        assert F.relu(en.tensor(x, requires_grad=True)).grad_fn is None
    t = en.tensor(x[:, :3], requires_grad=True)
    F.relu(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("case", [
    # x shape, weight shape, padding (top, bottom, left, right) or int, dilation, groups
    ((3, 4, 9, 8), (6, 2, 3, 3), 1, 1, 2),
    ((2, 3, 7, 9), (4, 3, 3, 2), (2, 1, 0, 1), (2, 1), 1),  # asymmetric pads, dilation
    ((2, 2, 5, 6), (3, 2, 1, 1), 0, 1, 1),  # 1x1 kernel: one shift, no adds
    ((1, 1, 4, 4), (2, 1, 4, 4), 0, 1, 1),  # kernel as large as the input: 1x1 output
    # Neighbours share padding: one side far wider than the other, and padding past the
    # kernel's reach, where the output is wider than the shared grid would be.
    ((3, 2, 6, 5), (2, 2, 3, 3), (0, 3, 2, 0), 2, 1),
    ((2, 1, 3, 3), (2, 1, 2, 2), 3, 1, 1),
    ((2, 2, 4, 5), (3, 2, 3, 2), (4, 1, 1, 3), (1, 2), 1),
], ids=str)
def test_stride_one_backward_on_the_padded_grid_matches_torch(case: tuple) -> None:
    xs, ws, p, d, g = case
    x, w, b = data(xs, ws, seed=3)
    pads = (p,) * 4 if isinstance(p, int) else p
    t, tw, tb = (en.tensor(a, requires_grad=True) for a in (x, w, b))
    out = conv.Conv2d.apply(t, tw, tb, stride=(1, 1), pads=pads,
                            dilation=(d, d) if isinstance(d, int) else d, groups=g)
    grad = np.random.default_rng(4).standard_normal(out.shape).astype(np.float32)
    out.backward(en.tensor(grad))
    rx, rw, rb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    padded = TF.pad(rx, (pads[2], pads[3], pads[0], pads[1]))
    ref = TF.conv2d(padded, rw, rb, 1, 0, d, g)
    ref.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)
    for ours, theirs in ((t, rx), (tw, rw), (tb, rb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64"])
def test_relu_clip_keeps_dtype_and_matches_torch_signs(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    vals = [-2.0, -0.0, 0.0, 3.5, np.inf, -np.inf, np.nan] if dtype != "int64" else [-2, 0, 3]
    x = np.array(vals, dtype=dtype)
    out = F.relu(en.tensor(x)).numpy()
    ref = torch.relu(torch.from_numpy(x)).numpy()
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(ref))  # -0.0 kept, as PyTorch


@pytest.mark.parametrize("case", CASES + [((6, 1, 10, 10), (5, 1, 3, 3), 1, 1, 1, 1)], ids=str)
@pytest.mark.parametrize("input_grad", [False, True], ids=["first layer", "inner layer"])
def test_weight_and_bias_gradients_match_torch(case: tuple, input_grad: bool) -> None:
    xs, ws, s, p, d, g = case
    x, w, b = data(xs, ws, seed=5)
    t = en.tensor(x, requires_grad=input_grad)
    tw, tb = en.tensor(w, requires_grad=True), en.tensor(b, requires_grad=True)
    out = F.conv2d(t, tw, tb, s, p, d, g)
    grad = np.random.default_rng(6).standard_normal(out.shape).astype(np.float32)
    out.backward(en.tensor(grad))
    rx = torch.tensor(x, requires_grad=input_grad)
    rw, rb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    TF.conv2d(rx, rw, rb, s, p, d, g).backward(torch.from_numpy(grad))
    np.testing.assert_allclose(tw.grad.numpy(), rw.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(tb.grad.numpy(), rb.grad.numpy(), rtol=1e-4, atol=1e-3)
    assert (t.grad is None) != input_grad
    if input_grad:
        np.testing.assert_allclose(t.grad.numpy(), rx.grad.numpy(), rtol=1e-4, atol=1e-3)


def _needs_grad_cases() -> list[tuple]:
    flags = [(x, w, b) for x in (False, True) for w in (False, True) for b in (False, True)
             if x or w or b]
    return [(case, batch, f) for case in CASES for batch in (0, 3) for f in flags]


@pytest.mark.parametrize(("case", "batch", "grads"), _needs_grad_cases(), ids=str)
def test_every_mix_of_frozen_inputs_and_empty_batches_matches_torch(case: tuple, batch: int,
                                                                     grads: tuple) -> None:
    # A frozen weight with a trainable bias once read columns only a weight gradient keeps (the
    # per-image path of a first layer); an empty batch once failed a reshape of -1.
    xs, ws, s, p, d, g = case
    x, w, b = data((batch, *xs[1:]), ws)
    ours = [en.tensor(a, requires_grad=r) for a, r in zip((x, w, b), grads, strict=True)]
    theirs = [torch.tensor(a, requires_grad=r) for a, r in zip((x, w, b), grads, strict=True)]
    out = F.conv2d(*ours, stride=s, padding=p, dilation=d, groups=g)
    expected = TF.conv2d(*theirs, stride=s, padding=p, dilation=d, groups=g)
    assert tuple(out.shape) == tuple(expected.shape)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-4,
                               atol=1e-4)
    seed = np.linspace(-1, 1, expected.numel(), dtype=np.float32).reshape(expected.shape)
    (out * en.tensor(seed)).sum().backward()
    (expected * torch.from_numpy(seed)).sum().backward()
    for mine, reference, needed in zip(ours, theirs, grads, strict=True):
        assert (mine.grad is not None) == needed
        if needed:
            np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-4,
                                       atol=1e-4)


@pytest.mark.parametrize("batch", [0, 2])
def test_fused_conv_relu_pool_with_a_frozen_weight_or_empty_batch_matches_torch(
        batch: int) -> None:
    net = en.nn.Sequential(en.nn.Conv2d(3, 4, 3), en.nn.ReLU(), en.nn.MaxPool2d(2))
    twin = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in net.state_dict().items()})
    for layer in (net[0], twin[0]):
        layer.weight.requires_grad_(False)
    x = np.random.default_rng(0).standard_normal((batch, 3, 8, 8)).astype(np.float32)
    out, expected = net(en.tensor(x)), twin(torch.from_numpy(x))
    assert tuple(out.shape) == tuple(expected.shape)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(net[0].bias.grad.numpy(), twin[0].bias.grad.numpy(), rtol=1e-5,
                               atol=1e-5)
