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
