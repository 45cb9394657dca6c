"""RNNCell / LSTMCell / GRUCell against PyTorch, and the fused sequence ops (engine/ops/rnn.py)
through check_op: PyTorch forward+backward when importable, float64 gradcheck always."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op, torch

import engine as en
from engine import nn
from engine.ops.rnn import GRUSequence, LSTMSequence, RNNSequence

IN, HID, B, T = 3, 4, 2, 3
CELL_KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


def _torch_cell(kind: str) -> object:
    return {"lstm": torch.lstm_cell, "gru": torch.gru_cell, "rnn_tanh": torch.rnn_tanh_cell,
            "rnn_relu": torch.rnn_relu_cell}[kind]


def _torch_sequence(kind: str, reverse: bool, batch_first: bool) -> object:
    """Reference on torch tensors: a loop of PyTorch's cell functions, laid out like our op."""
    def run(x: object, h: object, *rest: object) -> object:
        x = x.transpose(0, 1) if batch_first else x
        lstm = kind == "lstm"
        c, weights = (rest[0], rest[1:]) if lstm else (None, rest)
        cell = _torch_cell(kind)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        hs, cs = [None] * x.shape[0], [None] * x.shape[0]
        for t in steps:
            if lstm:
                h, c = cell(x[t], (h, c), *weights)
                cs[t] = c
            else:
                h = cell(x[t], h, *weights)
            hs[t] = h
        time_axis = 1 if batch_first else 0
        hs_all = torch.stack(hs, time_axis)
        return torch.stack([hs_all, torch.stack(cs, time_axis)]) if lstm else hs_all
    return run


def _engine_sequence(kind: str, reverse: bool, batch_first: bool) -> object:
    """The op under test, after one linear for every step's input projection."""
    def run(x: object, h: object, *rest: object) -> object:
        lstm = kind == "lstm"
        c, (w_ih, w_hh, b_ih, b_hh) = (rest[0], rest[1:]) if lstm else (None, rest)
        xproj = en.nn.functional.linear(x, w_ih, b_ih)
        if lstm:
            return LSTMSequence.apply(xproj, h, c, w_hh, b_hh, reverse=reverse,
                                      batch_first=batch_first)
        if kind == "gru":
            return GRUSequence.apply(xproj, h, w_hh, b_hh, reverse=reverse,
                                     batch_first=batch_first)
        return RNNSequence.apply(xproj, h, w_hh, b_hh, nonlinearity=kind[4:], reverse=reverse,
                                 batch_first=batch_first)
    return run


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize(("reverse", "batch_first"), [(False, False), (True, False), (True, True)])
def test_sequence_op_parity_and_gradcheck(kind: str, reverse: bool, batch_first: bool) -> None:
    gates = {"lstm": 4, "gru": 3}.get(kind, 1) * HID
    states = [(B, HID)] * (2 if kind == "lstm" else 1)
    shapes = [(B, T, IN) if batch_first else (T, B, IN), *states,
              (gates, IN), (gates, HID), (gates,), (gates,)]
    # relu's kink breaks central differences: its gradcheck runs in the next test
    check_op(shapes, _engine_sequence(kind, reverse, batch_first),
             _torch_sequence(kind, reverse, batch_first) if torch is not None else None,
             low=-1.0, high=1.0, gradcheck=kind != "rnn_relu")


def test_relu_sequence_gradcheck_away_from_the_kink() -> None:
    rng = np.random.default_rng(0)
    x = en.tensor(rng.uniform(0.5, 1.0, (T, B, HID)), requires_grad=True)
    h0 = en.tensor(rng.uniform(0.1, 0.5, (B, HID)), requires_grad=True)
    w_hh = en.tensor(rng.uniform(0.1, 0.5, (HID, HID)), requires_grad=True)
    b_hh = en.tensor(rng.uniform(0.1, 0.5, (HID,)), requires_grad=True)
    out = RNNSequence.apply(x, h0, w_hh, b_hh, nonlinearity="relu")
    assert (out.detach().numpy() > 0.1).all()  # every unit active: the gradient is smooth here
    en.autograd.gradcheck(lambda *a: RNNSequence.apply(*a, nonlinearity="relu"),
                          [x, h0, w_hh, b_hh])


CELLS = {
    "lstm": (nn.LSTMCell, "LSTMCell", {}),
    "gru": (nn.GRUCell, "GRUCell", {}),
    "rnn_tanh": (nn.RNNCell, "RNNCell", {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNNCell, "RNNCell", {"nonlinearity": "relu"}),
}


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cell_parity(kind: str, batched: bool, with_state: bool) -> None:
    if torch is None:
        pytest.skip("torch is the oracle here")
    ours_cls, torch_name, extra = CELLS[kind]
    theirs = getattr(torch.nn, torch_name)(IN, HID, **extra)
    ours = ours_cls(IN, HID, **extra)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: en.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    lead = (B,) if batched else ()
    x = rng.standard_normal(lead + (IN,)).astype(np.float32)
    count = 2 if kind == "lstm" else 1
    states = [rng.standard_normal(lead + (HID,)).astype(np.float32) for _ in range(count)]
    xo, xt = en.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    so = [en.tensor(s, requires_grad=True) for s in states]
    st = [torch.tensor(s, requires_grad=True) for s in states]
    pack = (lambda s: tuple(s)) if kind == "lstm" else (lambda s: s[0])
    out_o = ours(xo, pack(so)) if with_state else ours(xo)
    out_t = theirs(xt, pack(st)) if with_state else theirs(xt)
    outs_o = list(out_o) if kind == "lstm" else [out_o]
    outs_t = list(out_t) if kind == "lstm" else [out_t]
    total_o, total_t = 0, 0
    for k, (o, t) in enumerate(zip(outs_o, outs_t, strict=True)):
        assert tuple(o.shape) == tuple(t.shape)
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), atol=1e-6, rtol=1e-5)
        total_o, total_t = total_o + (o * (k + 2)).sum(), total_t + (t * (k + 2)).sum()
    total_o.backward()
    total_t.backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), atol=1e-6, rtol=1e-5)
    if with_state:
        for a, b in zip(so, st, strict=True):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-6, rtol=1e-5)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), atol=1e-6,
                                   rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("cell_cls", [nn.LSTMCell, nn.GRUCell])
def test_float64_cell_gradcheck(cell_cls: type) -> None:
    cell = cell_cls(3, 2).double()
    x = en.randn(2, 3, dtype=en.float64, requires_grad=True)
    h = en.randn(2, 2, dtype=en.float64, requires_grad=True)
    if cell_cls is nn.LSTMCell:
        c = en.randn(2, 2, dtype=en.float64, requires_grad=True)
        en.autograd.gradcheck(lambda x, h, c: cell(x, (h, c)), [x, h, c])
    else:
        en.autograd.gradcheck(lambda x, h: cell(x, h), [x, h])
    params = list(cell.parameters())
    assert all(p.dtype == en.float64 for p in params)
    # gradcheck perturbs each parameter's array in place, so the cell sees every change
    en.autograd.gradcheck(lambda *p: cell(x.detach(), h.detach()) if cell_cls is nn.GRUCell
                          else cell(x.detach(), (h.detach(), h.detach()))[1], params)


def test_cell_errors_match_pytorch() -> None:
    with pytest.raises(ValueError, match="LSTMCell: Expected input to be 1D or 2D, got 3D"):
        nn.LSTMCell(IN, HID)(en.randn(1, B, IN))
    with pytest.raises(ValueError, match="GRUCell: Expected hidden to be 1D or 2D, got 3D"):
        nn.GRUCell(IN, HID)(en.randn(B, IN), en.randn(1, B, HID))
    with pytest.raises(ValueError, match=r"LSTMCell: Expected hx\[1\] to be 1D or 2D, got 3D"):
        nn.LSTMCell(IN, HID)(en.randn(B, IN), (en.randn(B, HID), en.randn(1, B, HID)))
    cell = nn.RNNCell(IN, HID, nonlinearity="gelu")
    with pytest.raises(RuntimeError, match="Unknown nonlinearity: gelu"):
        cell(en.randn(B, IN))
