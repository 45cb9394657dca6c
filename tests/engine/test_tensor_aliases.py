"""PyTorch's aliases and conveniences on Tensor, against PyTorch where it is installed."""

import numpy as np
import pytest

import engine as en

NAN = float("nan")
VALUES = np.array([[-3.5, 2.0, NAN], [4.0, -1.0, 7.0]], dtype=np.float32)


@pytest.mark.parametrize("call", [
    lambda t: t.nansum(), lambda t: t.nansum(1), lambda t: t.nanmean(),
    lambda t: t.nanmean(0, keepdim=True), lambda t: t.absolute(), lambda t: t.fmod(-2.5),
    lambda t: t.tile(2), lambda t: t.tile((2, 1, 1)),
])
def test_float_forms_match_torch(call):
    torch = pytest.importorskip("torch")
    ours, theirs = call(en.tensor(VALUES)), call(torch.tensor(VALUES))
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, equal_nan=True)


def test_fmod_of_integers_keeps_the_sign_of_the_dividend():
    np.testing.assert_array_equal(en.fmod(en.tensor([-7, 5, -3]), 2).numpy(), [-1, 1, -1])
    assert en.tensor([-7]).fmod(2).dtype == en.int64


def test_nansum_gradient_skips_nans():
    x = en.tensor([1.0, NAN, 3.0], requires_grad=True)
    x.nansum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])


def test_counts_squeeze_in_place_and_detach_():
    x = en.zeros(1, 3)
    assert x.nelement() == 3 and x.ndimension() == 2
    assert x.squeeze_().shape == (3,) and x.unsqueeze_(0).shape == (1, 3)
    y = en.ones(2, requires_grad=True) * 2
    assert y.detach_() is y and y.grad_fn is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="out-of-place"):
        en.ones(1, 2, requires_grad=True).squeeze_()
    assert en.ones(2).allclose(en.ones(2) + 1e-9) and not en.ones(2).allclose(en.zeros(2))
    assert en.pi == pytest.approx(3.141592653589793) and en.inf == float("inf")


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (6, 2, 2)])
def test_orthogonal_init_gives_orthonormal_rows_or_columns(shape):
    w = en.nn.init.orthogonal_(en.empty(*shape), gain=2.0)
    flat = w.numpy().reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        en.nn.init.orthogonal_(en.empty(3))
