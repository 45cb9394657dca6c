"""A training step on "cuda" stays on the device: no host<->device copy and no implicit sync from
the batch reaching the device to loss.item(), and the same numbers as the step on the CPU.

Runs on the CuPy stand-in (tests/fake_cupy), whose counters see every copy and sync.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine import nn, optim


class SmallCNN(nn.Module):
    """conv2d -> relu -> max_pool2d -> linear: the layers of the smoke CNN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x: en.Tensor) -> en.Tensor:
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1))


class SmallRNN(nn.Module):
    """embedding -> LSTM -> dropout -> layer norm -> linear: a sequence classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 6, max_norm=2.0)
        self.rnn = nn.LSTM(6, 8, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, tokens: en.Tensor) -> en.Tensor:
        out, _ = self.rnn(self.emb(tokens))
        return self.fc(self.norm(self.drop(out[:, -1])))


class NormCNN(nn.Module):
    """conv (stride 2) -> batch norm -> GELU -> avg pool -> adaptive pool -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: en.Tensor) -> en.Tensor:
        x = F.avg_pool2d(F.gelu(self.bn(self.conv(x))), 2)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_other_layers_make_no_copy_or_sync(fake_gpu) -> None:
    rng = np.random.default_rng(1)
    tokens = en.tensor(rng.integers(0, 10, size=(4, 5))).to("cuda")
    images = en.tensor(rng.standard_normal((4, 1, 8, 8)).astype(np.float32)).to("cuda")
    y = en.tensor(rng.integers(0, 3, size=4)).to("cuda")
    for model, x in ((SmallRNN(), tokens), (NormCNN(), images)):
        model.to("cuda")
        opt = optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(2):
            fake_gpu._reset_counters()
            fake_gpu._trace()
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            assert {**fake_gpu._counters(), "where": fake_gpu._trace(False)} == {
                "h2d": 0, "d2h": 0, "sync": 0, "where": []}, type(model).__name__
            assert np.isfinite(loss.item())


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((5, 1, 8, 8)).astype(np.float32),
            rng.integers(0, 3, size=5).astype(np.int64))


def _run(device: str, make_opt, fake, steps: int = 2) -> tuple[list[float], dict, list[dict]]:
    en.manual_seed(0)
    model = SmallCNN().to(device)
    opt = make_opt(model.parameters())
    x_host, y_host = _batch()
    losses, counts = [], []
    for _ in range(steps):
        x, y = en.tensor(x_host).to(device), en.tensor(y_host).to(device)
        if fake is not None:
            fake._reset_counters()
            fake._trace()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if fake is not None:
            counts.append({**fake._counters(), "where": fake._trace(False)})
        losses.append(loss.item())
    assert device == "cpu" or all(p._data.device.id == (en.device(device).index or 0)
                                  for p in model.parameters())
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return losses, state, counts


OPTIMIZERS = {
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "sgd_momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
}


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_training_step_makes_no_copy_or_sync(name: str, device: str, fake_gpu) -> None:
    cpu_losses, cpu_state, _ = _run("cpu", OPTIMIZERS[name], None)
    gpu_losses, gpu_state, counts = _run(device, OPTIMIZERS[name], fake_gpu)
    assert counts == [{"h2d": 0, "d2h": 0, "sync": 0, "where": []}] * 2
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5, atol=1e-6)
    assert gpu_state.keys() == cpu_state.keys()
    for key in cpu_state:
        np.testing.assert_allclose(gpu_state[key], cpu_state[key], rtol=1e-4, atol=1e-6,
                                   err_msg=key)


def test_factories_and_python_scalars_make_no_host_copy(fake_gpu) -> None:
    x = en.ones(3, device="cuda")
    fake_gpu._reset_counters()
    y = (x * 2.5 + 1 - en.arange(3, device="cuda") + en.zeros(3, device="cuda")
         + en.full((3,), 2.0, device="cuda")) / 2
    ramp = en.arange(0.5, 2.0, 0.5, device="cuda")
    assert fake_gpu._counters() == {"h2d": 0, "d2h": 0, "sync": 0}
    assert y.device == "cuda:0" and y.dtype == en.float32 and ramp.dtype == en.float32
    assert y.cpu().tolist() == [2.75, 2.25, 1.75] and ramp.cpu().tolist() == [0.5, 1.0, 1.5]
