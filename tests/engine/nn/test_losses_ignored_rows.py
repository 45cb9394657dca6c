"""cross_entropy and nll_loss where targets are ignored, against PyTorch: every row ignored (a
mean over nothing is NaN, its gradient 0), some ignored, zero class weights, empty batches, an
infinite upstream gradient on an ignored row; with the compiled kernels on and off."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TARGETS = {  # for 4 rows of 3 classes; -100 is ignore_index
    "all_ignored": [-100, -100, -100, -100],
    "some_ignored": [2, -100, 0, -100],
    "none_ignored": [2, 1, 0, 1],
}
WEIGHTS = {"no_weight": None, "weight": [0.5, 2.0, 1.0], "zero_weight": [0.0, 1.0, 0.0]}


def _run(lib: object, fn: object, x: np.ndarray, target: np.ndarray, weight: object,
         reduction: str, upstream: np.ndarray | None, **kw: object) -> tuple:
    xt = lib.tensor(x, requires_grad=True)
    w = None if weight is None else lib.tensor(np.array(weight, dtype=np.float32))
    loss = fn(xt, lib.tensor(target), weight=w, reduction=reduction, **kw)
    if upstream is None:
        loss.sum().backward()
    else:
        loss.backward(lib.tensor(upstream))
    return loss.detach().numpy(), xt.grad.numpy()


def _compare(fn_name: str, x: np.ndarray, target: np.ndarray, weight: object, reduction: str,
             upstream: np.ndarray | None = None, **kw: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch warns of nothing here; neither may we
        ours = _run(en, getattr(F, fn_name), x, target, weight, reduction, upstream, **kw)
    theirs = _run(torch, getattr(TF, fn_name), x, target, weight, reduction, upstream, **kw)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.shape == reference.shape
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)  # NaN where NaN


@pytest.mark.parametrize(("targets", "weight", "reduction", "fn_name", "smoothing"), [
    case for case in itertools.product(TARGETS, WEIGHTS, ["mean", "sum", "none"],
                                       ["cross_entropy", "nll_loss"], [0.0, 0.1])
    if not (case[3] == "nll_loss" and case[4])])
def test_ignored_rows_match_torch(kernels: bool, targets: str, weight: str, reduction: str,
                                  fn_name: str, smoothing: float) -> None:
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    kw = {"label_smoothing": smoothing} if smoothing else {}
    _compare(fn_name, x, np.array(TARGETS[targets]), WEIGHTS[weight], reduction, **kw)


@pytest.mark.parametrize("fn_name", ["cross_entropy", "nll_loss"])
def test_unbatched_and_spatial_inputs_with_every_target_ignored(kernels: bool,
                                                                fn_name: str) -> None:
    rng = np.random.default_rng(1)
    _compare(fn_name, rng.standard_normal(3).astype(np.float32), np.array(-100), None, "mean")
    _compare(fn_name, rng.standard_normal((2, 3, 2)).astype(np.float32),
             np.full((2, 2), -100), None, "mean")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("fn_name", ["cross_entropy", "nll_loss"])
def test_empty_batch_matches_torch(kernels: bool, fn_name: str, reduction: str) -> None:
    _compare(fn_name, np.zeros((0, 3), np.float32), np.zeros(0, np.int64), None, reduction)


@pytest.mark.parametrize("fn_name", ["cross_entropy", "nll_loss"])
def test_an_ignored_row_keeps_a_zero_gradient_under_an_infinite_upstream_one(
        kernels: bool, fn_name: str) -> None:
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    upstream = np.array([1.0, np.inf, 2.0, -1.0], np.float32)  # row 1 is ignored
    _compare(fn_name, x, np.array(TARGETS["some_ignored"]), None, "none", upstream)
