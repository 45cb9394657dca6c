"""autocast against torch.autocast('cpu'): forward, loss and float32 gradients agree within
low-precision tolerances; the bfloat16 emulation rounds exactly as PyTorch's bfloat16 does."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine import nn
from engine.ops.bfloat16 import round_to_bfloat16

torch = pytest.importorskip("torch")

# (engine dtype, torch dtype name, forward atol, gradient atol): float16 keeps 11 significant
# bits, bfloat16 8; sums over a few dozen products stay within a few units of the last place.
DTYPES = [(en.float16, "float16", 4e-3, 2e-3), (en.bfloat16, "bfloat16", 3e-2, 2e-2)]


def _twin(model: nn.Module, twin: torch.nn.Module) -> torch.nn.Module:
    twin.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in
                          model.state_dict().items()})
    return twin


def _compare(model: nn.Module, twin: torch.nn.Module, x: np.ndarray, y: np.ndarray,
             dtype: en.dtype, tdtype: str, atol: float, grad_atol: float) -> None:
    with en.autocast("cpu", dtype=dtype):
        logits = model(en.tensor(x))
        loss = F.cross_entropy(logits, en.tensor(y))
    loss.backward()
    with torch.autocast("cpu", dtype=getattr(torch, tdtype)):
        t_logits = twin(torch.tensor(x))
        t_loss = torch.nn.functional.cross_entropy(t_logits, torch.tensor(y))
    t_loss.backward()
    assert loss.dtype == en.float32 and t_loss.dtype == torch.float32
    # bfloat16 results are float32 arrays of bfloat16 values here
    assert logits.dtype == (en.float32 if dtype is en.bfloat16 else en.float16)
    np.testing.assert_allclose(logits.detach().numpy().astype(np.float32),
                               t_logits.detach().float().numpy(), atol=atol, rtol=0)
    assert abs(loss.item() - t_loss.item()) < atol
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters(), strict=True):
        assert p.grad.dtype == en.float32, name
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=grad_atol, rtol=1e-2,
                                   err_msg=name)


@pytest.mark.parametrize(("dtype", "tdtype", "atol", "grad_atol"), DTYPES)
def test_mlp_matches_torch_autocast(dtype, tdtype, atol, grad_atol) -> None:
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
    twin = _twin(model, torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(),
                                            torch.nn.Linear(32, 5)))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 20)).astype(np.float32)
    _compare(model, twin, x, rng.integers(0, 5, 16), dtype, tdtype, atol, grad_atol)


@pytest.mark.parametrize(("dtype", "tdtype", "atol", "grad_atol"), DTYPES)
def test_cnn_matches_torch_autocast(dtype, tdtype, atol, grad_atol) -> None:
    def layers(lib):
        return [lib.Conv2d(2, 4, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2), lib.Flatten(),
                lib.Linear(4 * 4 * 4, 3)]

    model = nn.Sequential(*layers(nn))
    twin = _twin(model, torch.nn.Sequential(*layers(torch.nn)))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 2, 8, 8)).astype(np.float32)
    _compare(model, twin, x, rng.integers(0, 3, 6), dtype, tdtype, atol, grad_atol)


def test_bfloat16_mlp_is_bitwise_torch() -> None:
    """Rounding at the same places as PyTorch's bfloat16 ops gives PyTorch's numbers exactly."""
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
    twin = _twin(model, torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(),
                                            torch.nn.Linear(32, 5)))
    x = np.random.default_rng(3).standard_normal((8, 20)).astype(np.float32)
    with en.autocast("cpu", dtype=en.bfloat16):
        out = model(en.tensor(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        t_out = twin(torch.tensor(x))
    np.testing.assert_array_equal(out.detach().numpy(), t_out.detach().float().numpy())


def test_lstm_matches_torch_bfloat16_autocast() -> None:
    lstm = nn.LSTM(5, 6, batch_first=True)
    twin = _twin(lstm, torch.nn.LSTM(5, 6, batch_first=True))
    x = np.random.default_rng(4).standard_normal((3, 4, 5)).astype(np.float32)
    with en.autocast("cpu", dtype=en.bfloat16):
        out, _ = lstm(en.tensor(x))
    out.sum().backward()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            t_out, _ = twin(torch.tensor(x))
    except RuntimeError as error:  # the reference itself: oneDNN's bf16 LSTM needs AVX-512
        if "primitive descriptor" not in str(error):
            raise
        pytest.skip(f"torch cannot run a bfloat16 LSTM on this CPU: {error}")
    t_out.float().sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), t_out.detach().float().numpy(), atol=1e-2)
    for (name, p), (_, q) in zip(lstm.named_parameters(), twin.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=4e-2, rtol=1e-2,
                                   err_msg=name)


def test_round_to_bfloat16_is_torchs_conversion() -> None:
    rng = np.random.default_rng(0)
    values = (rng.standard_normal(20000) * 10.0 ** rng.uniform(-44, 38, 20000)).astype(np.float32)
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 3.3895314e38, 3.4e38, 1e-45,
                        1.00390625, 1.01171875, 1.0 + 2.0 ** -8, -(1.0 + 3 * 2.0 ** -8)],
                       np.float32)
    x = np.concatenate([values, special])
    ours = round_to_bfloat16(x)
    theirs = torch.from_numpy(x).to(torch.bfloat16).float().numpy()
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)
    # a NaN whose payload is only in the dropped bits stays NaN (a plain rounding makes it inf)
    quiet_low = np.array([0x7F800001, 0xFF800123], np.uint32).view(np.float32)
    assert np.isnan(round_to_bfloat16(quiet_low)).all()
