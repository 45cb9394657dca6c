"""What only a real GPU can show: page-locked batches, the zoo's CNN trained by CuPy's kernels and
cuBLAS against the CPU, and float16 autocast and loss scaling on the device.

Skipped without a GPU that CuPy sees (the CuPy stand-in runs the rest of the cuda copies).
"""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine import nn, optim
from engine.utils.data import DataLoader, TensorDataset

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not en.cuda.is_available(), reason="needs a GPU that CuPy sees")]


def _cnn() -> nn.Module:
    from trainer.zoo import SmallCNN

    en.manual_seed(0)
    return SmallCNN()


def _train(device: str, steps: int = 3) -> tuple[list[float], dict[str, np.ndarray]]:
    model = _cnn().to(device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        x = en.tensor(rng.standard_normal((16, 1, 28, 28)).astype(np.float32)).to(device)
        y = en.tensor(rng.integers(0, 10, 16)).to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {k: v.cpu().numpy() for k, v in model.state_dict().items()}


def test_zoo_cnn_steps_on_the_gpu_match_the_cpu() -> None:
    cpu_losses, cpu_state = _train("cpu")
    gpu_losses, gpu_state = _train("cuda")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    for key, value in cpu_state.items():
        np.testing.assert_allclose(gpu_state[key], value, rtol=1e-3, atol=1e-5, err_msg=key)


def test_pinned_batches_are_page_locked() -> None:
    data = TensorDataset(en.randn(8, 3), en.arange(8))
    images, labels = next(iter(DataLoader(data, batch_size=4, pin_memory=True)))
    assert images.is_pinned() and labels.is_pinned()
    assert images.device.type == "cpu"


def test_float16_autocast_conv_on_the_gpu() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1).to("cuda")
    x = en.randn(4, 3, 16, 16).to("cuda")
    reference = conv(x)
    with en.autocast("cuda"):
        out = conv(x)
        loss = out.float().square().mean()
    loss.backward()
    assert out.dtype == en.float16 and loss.dtype == en.float32
    assert conv.weight.grad.dtype == en.float32
    np.testing.assert_allclose(out.float().detach().cpu().numpy(),
                               reference.detach().cpu().numpy(), rtol=2e-2, atol=2e-2)


def test_grad_scaler_skips_an_overflowed_step_on_the_gpu() -> None:
    layer = nn.Linear(4, 2).to("cuda")
    before = layer.weight.detach().cpu().numpy()
    opt = optim.SGD(layer.parameters(), lr=0.1)
    scaler = en.amp.GradScaler("cuda", init_scale=2.0 ** 16)
    loss = layer(en.full((1, 4), 1e38).to("cuda")).sum()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2.0 ** 15
    np.testing.assert_array_equal(layer.weight.detach().cpu().numpy(), before)
