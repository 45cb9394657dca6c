"""autocast at its edges, against torch.autocast('cpu'): a cached cast shared by several graphs,
the float64 and integer inputs it leaves alone, and the dtype checks it must not bypass."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine import nn
from engine.ops.bfloat16 import round_to_bfloat16

torch = pytest.importorskip("torch")

DTYPES = [(en.float16, "float16"), (en.bfloat16, "bfloat16")]


def _weight_cast(out: en.Tensor) -> object:
    """The node that cast the weight of the linear layer out came from."""
    node = out.grad_fn
    while node.name() != "AddmmBackward0":  # below bfloat16's rounding of the result
        node = node.next_functions[0][0]
    return node.next_functions[1][0]


@pytest.mark.parametrize(("dtype", "tdtype"), DTYPES)
@pytest.mark.parametrize("inside", [False, True])
def test_two_graphs_sharing_a_cached_cast_backward_one_after_the_other(dtype, tdtype,
                                                                        inside) -> None:
    """One cast of the weight per region, yet each forward's graph backwards on its own."""
    layer = nn.Linear(3, 2)
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in
                          layer.state_dict().items()})
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    grads = []
    for lib, model, low in ((en, layer, dtype), (torch, twin, getattr(torch, tdtype))):
        with lib.autocast("cpu", dtype=low):
            loss_a = model(lib.tensor(x)).float().sum()
            loss_b = (model(lib.tensor(x)).float() ** 2).sum()
            if inside:
                loss_a.backward()
                loss_b.backward()
        if not inside:
            loss_a.backward()
            loss_b.backward()
        grads.append([p.grad.detach().numpy() for p in model.parameters()])
    # the cache still casts the weight once: both graphs hold the same cast node
    with en.autocast("cpu", dtype=dtype):
        a, b = layer(en.tensor(x)), layer(en.tensor(x))
    assert _weight_cast(a) is _weight_cast(b)
    for ours, theirs in zip(*grads, strict=True):
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, rtol=2e-2, atol=2e-2)


def test_a_graph_through_a_cast_still_frees_its_other_nodes() -> None:
    x = en.tensor([1.0, 2.0], requires_grad=True)
    half = x.half()
    y = (half * half).float().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    half.float().sum().backward()  # the cast itself kept nothing to free, as in PyTorch
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])


@pytest.mark.parametrize(("dtype", "tdtype"), DTYPES)
def test_float64_and_integer_ops_are_left_alone(dtype, tdtype) -> None:
    a64 = np.array([[1.0 + 2.0**-20, 3.0], [5.0, 7.0]])  # not representable in either low dtype
    ints = np.array([[257, 1], [1, 1]])  # 257 * 257 + 1 = 66050 is no bfloat16 integer
    for array in (a64, ints):
        with en.autocast("cpu", dtype=dtype):
            ours = en.tensor(array) @ en.tensor(array)
        with torch.autocast("cpu", dtype=getattr(torch, tdtype)):
            theirs = torch.tensor(array) @ torch.tensor(array)
        assert ours.dtype.name == str(theirs.dtype).split(".")[-1] == array.dtype.name
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    layer = nn.Linear(2, 2).double()
    twin = torch.nn.Linear(2, 2).double()
    twin.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in
                          layer.state_dict().items()})
    with en.autocast("cpu", dtype=dtype):
        ours = layer(en.tensor(a64))
    with torch.autocast("cpu", dtype=getattr(torch, tdtype)):
        theirs = twin(torch.tensor(a64))
    assert ours.dtype == en.float64 and theirs.dtype == torch.float64
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-15)


def _raises_as_torch(ours, theirs, message: str, dtype: en.dtype, tdtype: str) -> None:
    """ours() raises `message` inside a region (and outside), and torch's twin raises there too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that CPU autocast ignores float16 for some
        with pytest.raises(RuntimeError), torch.autocast("cpu", dtype=getattr(torch, tdtype)):
            theirs()
    with pytest.raises((RuntimeError, ValueError), match=message):
        ours()
    with pytest.raises((RuntimeError, ValueError), match=message), en.autocast(
            "cpu", dtype=dtype):
        ours()


@pytest.mark.parametrize(("dtype", "tdtype"), DTYPES)
def test_dtype_checks_hold_for_inputs_autocast_does_not_cast(dtype, tdtype) -> None:
    w = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    for np_dtype, name in ((np.float64, "float64"), (np.int64, "int64")):
        x = np.ones((2, 6), np_dtype)
        _raises_as_torch(lambda x=x: F.linear(en.tensor(x), en.tensor(w, requires_grad=True)),
                         lambda x=x: torch.nn.functional.linear(torch.tensor(x), torch.tensor(w)),
                         f"mat1 and mat2 must have the same dtype, but got {name} and float32",
                         dtype, tdtype)
    cw = np.ones((2, 1, 3, 3), np.float32)
    image = np.ones((1, 1, 5, 5))
    _raises_as_torch(lambda: F.conv2d(en.tensor(image), en.tensor(cw)),
                     lambda: torch.nn.functional.conv2d(torch.tensor(image), torch.tensor(cw)),
                     r"Input type \(float64\) and weight type \(float32\)", dtype, tdtype)
    lstm, twin = nn.LSTM(3, 4), torch.nn.LSTM(3, 4)
    _raises_as_torch(lambda: lstm(en.tensor(np.ones((2, 1, 3)))),
                     lambda: twin(torch.ones(2, 1, 3, dtype=torch.float64)),
                     r"RNN input dtype \(engine.float64\) does not match weight dtype", dtype,
                     tdtype)
    # what autocast resolves itself still runs: a float16 input against float32 weights
    with en.autocast("cpu", dtype=dtype):
        out = F.linear(en.tensor(np.ones((2, 6), np.float16)), en.tensor(w))
    assert out.dtype == (en.float16 if dtype is en.float16 else en.float32)


def test_bfloat16_rounds_the_lower_precision_results_only() -> None:
    """The documented limit of the emulation: elementwise results stay unrounded float32."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    w = rng.standard_normal((16, 16)).astype(np.float32)
    with en.autocast("cpu", dtype=en.bfloat16):
        lin = F.linear(en.tensor(x), en.tensor(w))
        tripled, tanh = lin * 3.0, lin.tanh()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        t_lin = torch.nn.functional.linear(torch.tensor(x), torch.tensor(w))
    values = lin.numpy()
    np.testing.assert_array_equal(values, t_lin.float().numpy())  # rounded bit for bit
    np.testing.assert_array_equal(round_to_bfloat16(values), values)
    np.testing.assert_array_equal(tripled.numpy(), values * np.float32(3.0))  # float32 math
    np.testing.assert_allclose(tanh.numpy(), np.tanh(values), rtol=1e-6)
    assert not np.array_equal(round_to_bfloat16(tripled.numpy()), tripled.numpy())
