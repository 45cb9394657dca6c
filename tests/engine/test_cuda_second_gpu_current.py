"""Code that calls the array module outside an op runs on the tensor's GPU, not the current one.

Every case runs on cuda:1 while GPU 0 is current (CuPy refuses a kernel whose operands live on
another GPU than the current one, and the stand-in does too) and must give the CPU's values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine import backend, nn, optim


def _values(*tensors: Any) -> list[np.ndarray]:
    """The tensors' values on the host, after checking each lives where its device says."""
    out = []
    for t in tensors:
        if t.device.type == "cuda":
            assert t._data.device.id == t.device.index, f"{t.device} array on {t._data.device}"
        out.append(t.detach().cpu().numpy())
    return out


def _inplace(d: str) -> list[np.ndarray]:
    x = en.ones(3, device=d)
    a = x.add_(1).clone()
    x.zero_()
    b = x.clone()
    x.fill_(3.0)
    c = x.clone()
    x.copy_(en.tensor([1.0, 2.0, 3.0]))
    e = x.clone()
    x[0] = 5.0
    en.manual_seed(1)
    f = en.empty(4, device=d).normal_()
    return _values(a, b, c, e, x, f)


def _compare_mask(d: str) -> list[np.ndarray]:
    x = en.tensor([-1.0, 2.0, 3.0]).to(d)
    return _values(x > 0, x[x > 0], x.eq(2.0))


def _init(d: str) -> list[np.ndarray]:
    w = en.empty(3, 4, device=d)
    en.manual_seed(2)
    nn.init.kaiming_uniform_(w)
    k = w.clone()
    nn.init.constant_(w, 0.5)
    return _values(k, w)


def _load_state(d: str) -> list[np.ndarray]:
    en.manual_seed(3)
    source = nn.Linear(3, 2)
    model = nn.Linear(3, 2).to(d)
    model.load_state_dict(source.state_dict())
    return _values(model.weight, model.bias)


def _zero_grad(d: str) -> list[np.ndarray]:
    model = nn.Linear(3, 2).to(d)
    model(en.ones(4, 3, device=d)).sum().backward()
    optim.SGD(model.parameters(), lr=0.1).zero_grad(set_to_none=False)
    return _values(model.weight.grad, model.bias.grad)


def _batch_norm(d: str) -> list[np.ndarray]:
    bn = nn.BatchNorm1d(3).to(d)
    x = en.tensor(np.arange(12, dtype=np.float32).reshape(4, 3)).to(d)
    y = bn(x)
    return _values(y, bn.running_mean, bn.running_var, bn.num_batches_tracked)


def _embedding_max_norm(d: str) -> list[np.ndarray]:
    en.manual_seed(4)
    emb = nn.Embedding(5, 3, max_norm=1.0).to(d)
    out = emb(en.tensor([1, 2]).to(d))
    return _values(out, emb.weight)


def _quadratic_model(d: str) -> tuple[nn.Module, en.Tensor]:
    en.manual_seed(5)
    return nn.Linear(3, 1).to(d), en.tensor(np.linspace(-1, 1, 12, dtype=np.float32)
                                            .reshape(4, 3)).to(d)


def _lbfgs(d: str) -> list[np.ndarray]:
    model, x = _quadratic_model(d)
    opt = optim.LBFGS(model.parameters(), max_iter=5)

    def closure() -> en.Tensor:
        opt.zero_grad()
        loss = ((model(x) - 1.0) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return _values(model.weight, model.bias)


def _adagrad(d: str) -> list[np.ndarray]:
    model, x = _quadratic_model(d)
    opt = optim.Adagrad(model.parameters(), lr=0.1, initial_accumulator_value=0.5)
    for _ in range(2):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
    return _values(model.weight, opt.state[model.weight]["sum"])


def _losses(d: str) -> list[np.ndarray]:
    p = en.tensor([[0.2, 0.7, 0.9], [0.4, 0.5, 0.1]]).to(d)
    t = en.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]).to(d)
    w = en.tensor([1.0, 2.0, 0.5]).to(d)
    y = en.tensor([1, -1]).to(d)
    return _values(F.binary_cross_entropy(p, t, weight=w), F.cosine_embedding_loss(p, t, y))


def _autograd_grad(d: str) -> list[np.ndarray]:
    x = en.tensor([1.0, 2.0, 3.0]).to(d).requires_grad_()
    (g,) = en.autograd.grad((x * x).sum(), x)
    (h,) = en.autograd.grad([(x * 3).sum()], [x], grad_outputs=[en.tensor(2.0).to(d)])
    return _values(g, h)


def _grad_scaler(d: str) -> list[np.ndarray]:
    model, x = _quadratic_model(d)
    opt = optim.SGD(model.parameters(), lr=0.1)
    scaler = en.amp.GradScaler("cuda", init_scale=8.0)
    scaler.scale(model(x).sum()).backward()
    scaler.unscale_(opt)
    unscaled = model.weight.grad.clone()
    scaler.step(opt)
    return _values(unscaled, model.weight)


CASES: dict[str, Callable[[str], list[np.ndarray]]] = {
    "in-place add_/zero_/fill_/copy_/setitem/normal_": _inplace,
    "comparison and mask indexing": _compare_mask,
    "nn.init": _init,
    "load_state_dict": _load_state,
    "zero_grad(set_to_none=False)": _zero_grad,
    "BatchNorm running statistics": _batch_norm,
    "Embedding max_norm": _embedding_max_norm,
    "LBFGS": _lbfgs,
    "Adagrad state made in __init__": _adagrad,
    "binary_cross_entropy weight, cosine_embedding_loss": _losses,
    "autograd.grad": _autograd_grad,
    "GradScaler.unscale_ and step": _grad_scaler,
}


@pytest.mark.parametrize("case", list(CASES))
def test_second_gpu_matches_cpu_with_gpu0_current(two_gpus: None, case: str) -> None:
    expected = CASES[case]("cpu")
    cp = backend._cupy()
    assert cp.cuda.runtime.getDevice() == 0
    got = CASES[case]("cuda:1")
    assert cp.cuda.runtime.getDevice() == 0  # nothing leaves another GPU current
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_groups_gradients_by_device(two_gpus: None) -> None:
    a, b = nn.Linear(4, 3).to("cuda:0"), nn.Linear(3, 2).to("cuda:1")
    x = en.tensor(np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)).to("cuda:0")
    (b(a(x).to("cuda:1")) ** 2).sum().backward()
    params = [*a.parameters(), *b.parameters()]
    before = [p.grad.cpu().numpy() for p in params]
    expected = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in before))
    total = nn.utils.clip_grad_norm_(params, 0.5)
    assert total.device == "cuda:0" and total._data.device.id == 0
    np.testing.assert_allclose(total.item(), expected, rtol=1e-5)
    for p, g in zip(params, before, strict=True):
        assert p.grad._data.device.id == p.device.index
        np.testing.assert_allclose(p.grad.cpu().numpy(), g * (0.5 / (expected + 1e-6)),
                                   rtol=1e-5)
    inf = nn.utils.clip_grad_norm_(params, 10.0, norm_type=float("inf"))
    np.testing.assert_allclose(inf.item(), max(np.abs(g).max() for g in before)
                               * 0.5 / (expected + 1e-6), rtol=1e-5)
