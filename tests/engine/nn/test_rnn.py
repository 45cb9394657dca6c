"""nn.RNN / nn.LSTM / nn.GRU against PyTorch: outputs, final states and every gradient (input,
initial state, each parameter) with PyTorch's weights copied in; state dicts both ways."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import engine as en
from engine import nn

torch = pytest.importorskip("torch")

KINDS = {
    "lstm": (nn.LSTM, torch.nn.LSTM, {}),
    "gru": (nn.GRU, torch.nn.GRU, {}),
    "rnn_tanh": (nn.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
}
IN, HID, T, B = 5, 6, 4, 3


def _pair(kind: str, **kwargs: object) -> tuple[nn.Module, torch.nn.Module]:
    """Our layer and PyTorch's with PyTorch's weights copied into ours."""
    ours_cls, torch_cls, extra = KINDS[kind]
    theirs = torch_cls(IN, HID, **extra, **kwargs)
    ours = ours_cls(IN, HID, **extra, **kwargs)
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict({k: en.tensor(v.numpy()) for k, v in state.items()})
    return ours, theirs


def _states(kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> list[np.ndarray]:
    count = 2 if kind == "lstm" else 1
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]


def _pack(kind: str, states: list) -> object:
    return tuple(states) if kind == "lstm" else states[0]


def _unpack(kind: str, final: object) -> list:
    return list(final) if kind == "lstm" else [final]


def _compare(kind: str, ours: nn.Module, theirs: torch.nn.Module, x: np.ndarray,
             h0: list[np.ndarray] | None) -> None:
    """Forward both, seed every output with the same random gradient, compare values and grads."""
    xo, xt = en.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    so = [en.tensor(s, requires_grad=True) for s in h0] if h0 is not None else None
    st = [torch.tensor(s, requires_grad=True) for s in h0] if h0 is not None else None
    out_o, fin_o = ours(xo, _pack(kind, so)) if so is not None else ours(xo)
    out_t, fin_t = theirs(xt, _pack(kind, st)) if st is not None else theirs(xt)
    outs_o, outs_t = [out_o, *_unpack(kind, fin_o)], [out_t, *_unpack(kind, fin_t)]
    rng = np.random.default_rng(7)
    total_o, total_t = 0, 0
    for o, t in zip(outs_o, outs_t, strict=True):
        assert tuple(o.shape) == tuple(t.shape)
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), atol=1e-5, rtol=1e-4)
        seed = rng.standard_normal(tuple(t.shape)).astype(np.float32)
        total_o = total_o + (o * en.tensor(seed)).sum()
        total_t = total_t + (t * torch.from_numpy(seed)).sum()
    total_o.backward()
    total_t.backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), atol=1e-5, rtol=1e-4)
    for a, b in zip(so or [], st or [], strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-5, rtol=1e-4)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), atol=1e-5,
                                   rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(("num_layers", "batch_first", "bidirectional"),
                         list(itertools.product([1, 2], [False, True], [False, True])))
def test_parity_with_and_without_initial_state(kind: str, num_layers: int, batch_first: bool,
                                               bidirectional: bool) -> None:
    ours, theirs = _pair(kind, num_layers=num_layers, batch_first=batch_first,
                         bidirectional=bidirectional)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, IN) if batch_first else (T, B, IN)).astype(np.float32)
    directions = 2 if bidirectional else 1
    _compare(kind, ours, theirs, x, None)
    ours.zero_grad()
    theirs.zero_grad()
    _compare(kind, ours, theirs, x, _states(kind, (num_layers * directions, B, HID), rng))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input(kind: str, batch_first: bool) -> None:
    ours, theirs = _pair(kind, num_layers=2, bidirectional=True, batch_first=batch_first)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, IN)).astype(np.float32)
    _compare(kind, ours, theirs, x, None)
    ours.zero_grad()
    theirs.zero_grad()
    _compare(kind, ours, theirs, x, _states(kind, (4, HID), rng))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_no_bias(kind: str) -> None:
    ours, theirs = _pair(kind, bias=False, num_layers=2)
    assert [k for k in ours.state_dict() if "bias" in k] == []
    x = np.random.default_rng(2).standard_normal((T, B, IN)).astype(np.float32)
    _compare(kind, ours, theirs, x, None)


@pytest.mark.parametrize("kind", list(KINDS))
def test_parameter_names_layout_and_init(kind: str) -> None:
    ours_cls, torch_cls, extra = KINDS[kind]
    ours = ours_cls(IN, HID, num_layers=2, bidirectional=True, **extra)
    theirs = torch_cls(IN, HID, num_layers=2, bidirectional=True, **extra)
    shapes = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    assert shapes == [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert shapes[:4] == [("weight_ih_l0", (shapes[0][1][0], IN)),
                          ("weight_hh_l0", (shapes[0][1][0], HID)),
                          ("bias_ih_l0", (shapes[0][1][0],)), ("bias_hh_l0", (shapes[0][1][0],))]
    assert shapes[4][0] == "weight_ih_l0_reverse" and shapes[8] == (
        "weight_ih_l1", (shapes[0][1][0], 2 * HID))
    assert ours._flat_weights_names == list(theirs._flat_weights_names)
    assert [[p.shape for p in layer] for layer in ours.all_weights] == [
        [p.shape for p in layer] for layer in theirs.all_weights]
    bound = 1 / np.sqrt(HID)
    values = np.concatenate([p.detach().numpy().ravel() for p in ours.parameters()])
    assert values.min() >= -bound and values.max() <= bound and values.std() > bound / 3
    ours.flatten_parameters()  # a no-op that exists, as in PyTorch
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_round_trip_ours_to_torch_to_ours(kind: str) -> None:
    ours_cls, torch_cls, extra = KINDS[kind]
    ours = ours_cls(IN, HID, num_layers=2, bidirectional=True, **extra)
    theirs = torch_cls(IN, HID, num_layers=2, bidirectional=True, **extra)
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                            for k, v in ours.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((T, B, IN)).astype(np.float32)
    np.testing.assert_allclose(ours(en.tensor(x))[0].detach().numpy(),
                               theirs(torch.from_numpy(x))[0].detach().numpy(), atol=1e-5)
    back = ours_cls(IN, HID, num_layers=2, bidirectional=True, **extra)
    back.load_state_dict({k: en.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    for (k, a), (k2, b) in zip(back.state_dict().items(), ours.state_dict().items(), strict=True):
        assert k == k2
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_dropout_between_layers_in_training_only() -> None:
    lstm = nn.LSTM(IN, HID, num_layers=2, dropout=0.5)
    x = en.randn(T, B, IN)
    out_train, _ = lstm(x)
    out_again, _ = lstm(x)
    assert out_train.shape == (T, B, HID)
    assert not np.allclose(out_train.detach().numpy(), out_again.detach().numpy())
    lstm.eval()
    first, (h1, _) = lstm(x)
    second, (h2, _) = lstm(x)
    np.testing.assert_array_equal(first.detach().numpy(), second.detach().numpy())
    np.testing.assert_array_equal(h1.detach().numpy(), h2.detach().numpy())
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(IN, HID, dropout=0.2)


def test_errors_match_pytorch() -> None:
    lstm, gru = nn.LSTM(IN, HID), nn.GRU(IN, HID, num_layers=2)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'. Select from 'tanh' or"):
        nn.RNN(IN, HID, nonlinearity="gelu")
    with pytest.raises(NotImplementedError, match="proj_size > 0"):
        nn.LSTM(IN, HID, proj_size=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(IN, HID, proj_size=HID)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.LSTM(IN, HID, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRU(IN, 0)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. "
                                           "Expected 5, got 4"):
        lstm(en.randn(T, B, 4))
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        lstm(en.randn(1, T, B, IN))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 3, 6\), got \[1, 3, 6\]"):
        gru(en.randn(T, B, IN), en.randn(1, B, HID))
    with pytest.raises(RuntimeError,
                       match=r"Expected hidden\[1\] size \(1, 3, 6\), got \[1, 2, 6\]"):
        lstm(en.randn(T, B, IN), (en.randn(1, B, HID), en.randn(1, 2, HID)))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D"):
        gru(en.randn(T, B, IN), en.randn(B, HID))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx and cx should also be"):
        lstm(en.randn(T, IN), (en.randn(1, 1, HID), en.randn(1, 1, HID)))
    with pytest.raises(ValueError, match="RNN input dtype"):
        lstm(en.randn(T, B, IN, dtype=en.float64))


def test_float64_layers_keep_dtype_and_pass_gradcheck() -> None:
    for layer in (nn.LSTM(3, 2, bidirectional=True), nn.GRU(3, 2, num_layers=2),
                  nn.RNN(3, 2, nonlinearity="relu")):
        layer.double()
        x = en.randn(3, 2, 3, dtype=en.float64, requires_grad=True)
        out = layer(x)[0]
        assert out.dtype == en.float64
        en.autograd.gradcheck(lambda x, layer=layer: layer(x)[0], [x])


def test_in_place_change_of_an_output_is_caught_at_backward() -> None:
    gru = nn.GRU(IN, HID)
    out, h_n = gru(en.randn(T, B, IN))
    out.add_(1.0)  # backward needs the hidden states it returned
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h_n.sum().backward()


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_device_matches_cpu(kind: str, backend: str) -> None:
    ours_cls, _, extra = KINDS[kind]
    layer = ours_cls(IN, HID, num_layers=2, bidirectional=True, batch_first=True, **extra)
    x = np.random.default_rng(4).standard_normal((B, T, IN)).astype(np.float32)
    out_cpu = layer(en.tensor(x))[0]
    out_cpu.sum().backward()
    grads_cpu = [p.grad.numpy().copy() for p in layer.parameters()]
    layer.zero_grad()
    layer.to(backend)
    xd = en.tensor(x, device=backend, requires_grad=True)
    out = layer(xd)[0]
    out.sum().backward()
    assert out.device.type == backend.split(":")[0] and xd.grad is not None
    np.testing.assert_allclose(out.detach().cpu().numpy(), out_cpu.detach().numpy(), atol=1e-5)
    for p, g in zip(layer.parameters(), grads_cpu, strict=True):
        np.testing.assert_allclose(p.grad.cpu().numpy(), g, atol=1e-4, rtol=1e-4)


@pytest.mark.filterwarnings("error")  # an overflow in exp would warn
def test_saturated_gates_stay_finite_and_match_pytorch() -> None:
    ours, theirs = _pair("lstm")
    x = (np.random.default_rng(5).standard_normal((T, B, IN)) * 1e4).astype(np.float32)
    out, (h_n, c_n) = ours(en.tensor(x))
    t_out, (t_h, t_c) = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(c_n.detach().numpy(), t_c.detach().numpy(), atol=1e-4)


def test_relu_rnn_gradient_passes_a_nan_output_as_pytorch() -> None:
    # ReLU's backward lets the gradient through a NaN output (PyTorch tests output <= 0); a mask
    # of output > 0 stopped it, zeroing the input gradient of every step up to the NaN.
    ours, theirs = _pair("rnn_relu")
    x = np.random.default_rng(0).standard_normal((T, B, IN)).astype(np.float32)
    x[2, 0, :] = np.nan
    xo, xt = en.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(xo)[0].sum().backward()
    theirs(xt)[0].sum().backward()
    expected = xt.grad.numpy()
    assert np.isfinite(expected[:, 0]).all()  # the case this test is about
    np.testing.assert_allclose(xo.grad.numpy(), expected, atol=1e-5, rtol=1e-4)
