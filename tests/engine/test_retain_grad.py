"""retain_grad() as in PyTorch: .grad is the gradient after the tensor's other hooks whatever the
order they were registered in, calling it twice keeps one copy, retains_grad reports it."""

from __future__ import annotations

import pytest

import engine as en


def _run(lib: object, retain_first: bool, retain_calls: int) -> tuple[list, list, bool, bool]:
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    if retain_first:
        for _ in range(retain_calls):
            y.retain_grad()
    y.register_hook(lambda g: g * 3)
    if not retain_first:
        for _ in range(retain_calls):
            y.retain_grad()
    (y * y).sum().backward()
    return y.grad.tolist(), x.grad.tolist(), y.retains_grad, x.retains_grad


@pytest.mark.parametrize("retain_first", [True, False])
@pytest.mark.parametrize("retain_calls", [1, 2])
def test_grad_is_taken_after_every_hook_and_once(retain_first: bool, retain_calls: int) -> None:
    # d(y*y)/dy = 2y = 4, tripled by the hook; x gets 12 * dy/dx = 24
    assert _run(en, retain_first, retain_calls) == ([12.0, 12.0], [24.0, 24.0], True, False)


@pytest.mark.parametrize("retain_first", [True, False])
def test_matches_torch(retain_first: bool) -> None:
    torch = pytest.importorskip("torch")
    assert _run(en, retain_first, 2) == _run(torch, retain_first, 2)


def test_retains_grad_and_errors() -> None:
    x = en.ones(2, requires_grad=True)
    x.retain_grad()  # a leaf keeps .grad anyway: no hook, retains_grad stays False
    assert not x.retains_grad
    y = x * 2
    assert not y.retains_grad
    y.retain_grad()
    assert y.retains_grad
    with pytest.raises(RuntimeError, match="can't retain_grad on Tensor that has "
                                           "requires_grad=False"):
        en.ones(2).retain_grad()


def test_autograd_grad_fills_a_retained_grad_too() -> None:
    x = en.ones(2, requires_grad=True)
    y = x * 2
    y.retain_grad()
    (gx,) = en.autograd.grad((y * 3).sum(), x)
    assert gx.tolist() == [6.0, 6.0] and y.grad.tolist() == [3.0, 3.0]  # as PyTorch does
