"""The compiled stride-1 im2col (cpu_kernels.im2col_stride_1) against the NumPy copy it replaces:
the column matrix itself, and Conv2d's values and gradients through it, bitwise; and which
convolutions take it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import engine as en
from engine.nn import functional as F
from engine.ops import conv, jit

pytest.importorskip("numba")


@pytest.fixture
def im2col_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """The input shapes of each call to the compiled im2col during one test."""
    kernels = jit.kernels()
    assert kernels is not None
    calls: list = []
    real = kernels.im2col_stride_1

    def spy(xpad: np.ndarray, cols: np.ndarray) -> None:
        calls.append(xpad.shape)
        real(xpad, cols)

    monkeypatch.setattr(kernels, "im2col_stride_1", spy)
    yield calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "kernel", "pads"), [
    ((2, 3, 5, 7), (3, 3), (1, 1, 1, 1)),
    ((3, 2, 6, 5), (2, 4), (0, 2, 1, 0)),  # asymmetric padding, a non-square kernel
    ((1, 4, 4, 4), (1, 1), (0, 0, 0, 0)),
    ((2, 1, 3, 8), (3, 5), (2, 2, 0, 3)),
])
def test_compiled_im2col_is_the_numpy_column_matrix(dtype: type, shape: tuple, kernel: tuple,
                                                    pads: tuple) -> None:
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    xpad = conv.pad_nchw(x, pads)
    oh, ow = xpad.shape[2] - kernel[0] + 1, xpad.shape[3] - kernel[1] + 1
    win = conv.windows(xpad, kernel, (1, 1), (1, 1), (oh, ow))
    expected = np.ascontiguousarray(win.transpose(1, 2, 3, 0, 4, 5))
    cols = np.full(expected.shape, np.nan, dtype=dtype)  # every cell must be written
    jit.kernels().im2col_stride_1(xpad, cols)
    np.testing.assert_array_equal(cols, expected)
    assert cols.dtype == dtype


def _conv_results(x: np.ndarray, w: np.ndarray, b: np.ndarray, grad: bool, **options) -> list:
    """conv2d's output, and with grad the input, weight and bias gradients of sum(out * r)."""
    xt, wt, bt = (en.from_numpy(a.copy()) for a in (x, w, b))
    if not grad:
        with en.no_grad():
            return [F.conv2d(xt, wt, bt, **options).numpy()]
    for t in (xt, wt, bt):
        t.requires_grad_()
    out = F.conv2d(xt, wt, bt, **options)
    r = np.random.default_rng(1).standard_normal(out.shape).astype(x.dtype)
    (out * en.from_numpy(r)).sum().backward()
    return [out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize(("batch", "channels", "options"), [
    (4, 16, {"padding": 1}),
    (3, 16, {"padding": 1, "groups": 2}),
    (20, 16, {"padding": 1}),  # no grad: 20 images make three chunks of the column buffer
    (2, 12, {"padding": (2, 0)}),
])
def test_conv2d_through_the_compiled_im2col_is_bitwise_the_numpy_path(
        im2col_calls: list, grad: bool, batch: int, channels: int, options: dict) -> None:
    rng = np.random.default_rng(5)
    groups = options.get("groups", 1)
    x = rng.standard_normal((batch, channels, 14, 14)).astype(np.float32)
    w = rng.standard_normal((8, channels // groups, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    compiled = _conv_results(x, w, b, grad, **options)
    assert im2col_calls, "the compiled im2col was not used"
    assert sum(shape[0] for shape in im2col_calls) == batch  # every image, once
    jit.set_enabled(False)
    try:
        plain = _conv_results(x, w, b, grad, **options)
    finally:
        jit.set_enabled(True)
    for ours, numpy_path in zip(compiled, plain, strict=True):
        np.testing.assert_array_equal(ours, numpy_path)


@pytest.mark.parametrize("options", [{"stride": 2, "padding": 1}, {"dilation": 2, "padding": 2}])
def test_other_strides_and_dilations_keep_the_numpy_copy(im2col_calls: list,
                                                         options: dict) -> None:
    rng = np.random.default_rng(6)
    x = en.from_numpy(rng.standard_normal((2, 16, 9, 9)).astype(np.float32))
    w = en.from_numpy(rng.standard_normal((4, 16, 3, 3)).astype(np.float32)).requires_grad_()
    out = F.conv2d(x, w, **options)
    out.sum().backward()
    assert im2col_calls == []
    assert w.grad.shape == (4, 16, 3, 3)


def test_a_read_only_unpadded_input_keeps_the_numpy_copy(im2col_calls: list) -> None:
    rng = np.random.default_rng(8)
    images = rng.standard_normal((2, 16, 6, 6)).astype(np.float32)
    images.flags.writeable = False  # with no padding the kernel would get this array itself
    w = en.from_numpy(rng.standard_normal((4, 16, 3, 3)).astype(np.float32)).requires_grad_()
    out = F.conv2d(en.from_numpy(images), w)
    assert im2col_calls == []
    expected = sum(np.einsum("nchw,oc->nohw", images[:, :, i:i + 4, j:j + 4],
                             w.detach().numpy()[:, :, i, j]) for i in range(3) for j in range(3))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-4)
