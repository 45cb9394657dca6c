"""Ops whose backward reads forward's input: writing that input in place must raise, as in PyTorch.

Without the check these gave silently wrong gradients (x.add_(F.silu(x)) is a residual idiom).
"""

from __future__ import annotations

import pytest

import engine as en
import engine.nn.functional as F

TARGET = en.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
CASES = {
    "silu": F.silu, "mish": F.mish, "hardswish": F.hardswish, "logsigmoid": F.logsigmoid,
    "prelu": lambda x: F.prelu(x, en.tensor([0.25])),
    "mse_loss": lambda x: F.mse_loss(x, TARGET), "l1_loss": lambda x: F.l1_loss(x, TARGET),
    "smooth_l1_loss": lambda x: F.smooth_l1_loss(x, TARGET),
    "huber_loss": lambda x: F.huber_loss(x, TARGET),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_writing_a_saved_input_raises(name: str) -> None:
    a = en.tensor([[1.0, -2.0, 0.5], [-0.5, 3.0, 1.0]], requires_grad=True)
    b = a * 1.0
    out = CASES[name](b)
    b.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_residual_silu_raises_like_pytorch() -> None:
    a = en.tensor([1.0, -2.0, 0.5, 3.0], requires_grad=True)
    x = a * 1.0
    x.add_(F.silu(x))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        x.sum().backward()


def test_prelu_weight_changed_by_a_step_raises() -> None:
    a = en.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    w = en.nn.Parameter(en.tensor([0.25]))
    out = F.prelu(a, w)
    with en.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()

