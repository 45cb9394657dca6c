"""Operands on two devices: refused with PyTorch's error, or accepted where PyTorch accepts them."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine import nn

MISMATCH = "Expected all tensors to be on the same device, but found at least two devices, "


@pytest.mark.parametrize("call", [
    lambda x, t, w: F.cross_entropy(x, t),
    lambda x, t, w: F.cross_entropy(x, t.cuda(), weight=w),
    lambda x, t, w: F.nll_loss(x, t),
    lambda x, t, w: nn.CrossEntropyLoss()(x, t),
], ids=["cross_entropy_target", "cross_entropy_weight", "nll_loss_target", "module"])
def test_class_losses_refuse_a_host_target_or_weight(cuda: str, call) -> None:
    logits = en.randn(2, 3, device=cuda, requires_grad=True)
    with pytest.raises(RuntimeError, match=MISMATCH + "cuda:0 and cpu!"):
        call(logits, en.tensor([0, 2]), en.ones(3))


@pytest.mark.parametrize("call", [
    lambda x, i: x.index_select(0, i),
    lambda x, i: en.index_select(x, 0, i),
    lambda x, i: x.gather(0, i.reshape(1, 2)),
    lambda x, i: x.scatter(0, i.reshape(1, 2), 1.0),
], ids=["index_select", "index_select_fn", "gather", "scatter"])
def test_index_ops_want_the_index_on_self_device(cuda: str, call) -> None:
    x = en.ones(3, 3, device=cuda)
    with pytest.raises(RuntimeError, match=MISMATCH + "cuda:0 and cpu!"):
        call(x, en.tensor([0, 1]))
    with pytest.raises(RuntimeError, match=MISMATCH + "cpu and cuda:0!"):
        call(x.cpu(), en.tensor([0, 1], device=cuda))


def test_masked_fill_refuses_a_mask_on_another_device(cuda: str) -> None:
    x = en.ones(3, device=cuda)
    with pytest.raises(RuntimeError, match=MISMATCH + "cuda:0 and cpu!"):
        x.masked_fill(en.tensor([True, False, True]), 0.0)
    with pytest.raises(RuntimeError, match=MISMATCH + "cuda:0 and cpu!"):
        x.clone().masked_fill_(en.tensor([True, False, True]), 0.0)
    with pytest.raises(RuntimeError, match=MISMATCH + "cpu and cuda:0!"):
        x.cpu().masked_fill(x > 0, 0.0)


def test_a_cuda_index_on_a_host_tensor_is_refused(cuda: str) -> None:
    with pytest.raises(RuntimeError, match=r"indices should be either on cpu or on the same "
                                           r"device as the indexed tensor \(cpu\)"):
        en.arange(4.0)[en.tensor([0, 1], device=cuda)]
    with pytest.raises(RuntimeError, match=r"same device as the indexed tensor \(cpu\)"):
        en.arange(4.0)[en.arange(4, device=cuda) > 1]


def test_host_indices_on_a_cuda_tensor_are_taken_as_pytorch_takes_them(cuda: str) -> None:
    x = en.tensor([1.0, 2.0, 3.0, 4.0], device=cuda, requires_grad=True)
    picked = x[en.tensor([3, 0, 3])]
    masked = x[en.tensor([True, False, True, False])]
    assert str(picked.device) == str(masked.device) == "cuda:0"
    assert picked.tolist() == [4.0, 1.0, 4.0] and masked.tolist() == [1.0, 3.0]
    (picked.sum() + masked.sum()).backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy(), [2.0, 0.0, 1.0, 2.0])


def test_an_index_on_another_gpu_is_refused(two_gpus: None) -> None:
    with pytest.raises(RuntimeError, match=r"same device as the indexed tensor \(cuda:0\)"):
        en.arange(4.0, device="cuda:0")[en.tensor([0, 1], device="cuda:1")]
    with pytest.raises(RuntimeError, match=MISMATCH + "cuda:1 and cuda:0!"):
        en.ones(3, device="cuda:1").index_select(0, en.tensor([0], device="cuda:0"))


def test_clip_grad_norm_over_host_and_cuda_parameters(cuda: str) -> None:
    a = en.tensor([3.0, 0.0], device=cuda, requires_grad=True)
    b = en.tensor([0.0, 4.0], requires_grad=True)
    (a * a / 2).sum().cpu().add((b * b / 2).sum()).backward()  # grads: a's and b's values
    total = nn.utils.clip_grad_norm_([a, b], 1.0)
    assert str(total.device) == "cuda:0"  # PyTorch's total lies on the first gradient's device
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.cpu().numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.8], rtol=1e-5)
