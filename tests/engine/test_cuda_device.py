"""Tensors and modules on "cuda": moves, conversions, printing, saving and a second GPU.

Runs on real CuPy when it sees a GPU, else on the CuPy stand-in (tests/fake_cupy).
"""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.nn.functional as F
from engine import backend, nn, optim


def test_to_cuda_and_back_keeps_values_and_gradients(cuda: str) -> None:
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = en.tensor(host, requires_grad=True)
    g = x.to(cuda)
    assert g.device == en.device("cuda:0") and g.is_cuda and backend.is_cupy_array(g._data)
    assert g.to("cuda") is g and g.cuda() is g and g.to("cuda:0") is g
    back = (g * 2).cpu()
    assert back.device == "cpu" and isinstance(back._data, np.ndarray)
    np.testing.assert_array_equal(back.detach().numpy(), host * 2)
    back.sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
    c = en.ones(2).cuda()
    assert c.device == "cuda:0" and c.cuda(0) is c
    assert en.zeros(3, device=cuda).device == "cuda:0"


def test_numpy_refuses_a_cuda_tensor_as_pytorch(cuda: str) -> None:
    x = en.ones(3, device=cuda)
    message = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the "
               "tensor to host memory first.")
    with pytest.raises(TypeError) as info:
        x.numpy()
    assert str(info.value) == message
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        np.asarray(x)
    np.testing.assert_array_equal(x.cpu().numpy(), np.ones(3))


def test_scalars_lists_and_printing(cuda: str) -> None:
    x = en.tensor([[1.5, -2.0], [3.0, 4.25]], device=cuda)
    assert x[1, 1].item() == 4.25 and float(x.sum()) == 6.75 and int(x[1, 0]) == 3
    assert bool(x[0, 0] > 1) and x.tolist() == [[1.5, -2.0], [3.0, 4.25]]
    assert repr(x) == ("tensor([[ 1.5000, -2.0000],\n        [ 3.0000,  4.2500]], "
                       "device='cuda:0')")
    assert str(en.tensor(3, device=cuda)) == "tensor(3, device='cuda:0')"
    assert f"{x.sum():.2f}" == "6.75"
    assert en.allclose(x, x * (1 + 1e-7)) and not en.allclose(x, x + 1)


def test_module_to_cuda_moves_parameters_buffers_and_grads(cuda: str) -> None:
    en.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    cpu_copy = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    cpu_copy.load_state_dict(model.state_dict())
    x = en.randn(5, 3)
    cpu_copy(x).sum().backward()
    model(x).sum().backward()
    assert model.to(cuda) is model
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        assert t.device == "cuda:0", name
        assert t.grad is None or t.grad.device == "cuda:0", name
    out = model(x.to(cuda))
    assert out.device == "cuda:0"
    np.testing.assert_allclose(out.detach().cpu().numpy(), cpu_copy(x).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert model.cpu() is model and model[0].weight.device == "cpu"
    assert model.cuda()[3].bias.device == "cuda:0"


def test_init_and_random_draws_match_the_cpu(cuda: str) -> None:
    en.manual_seed(3)
    on_cpu = en.randn(4, 5), en.rand(3), en.randint(0, 9, (6,))
    en.manual_seed(3)
    on_gpu = en.randn(4, 5, device=cuda), en.rand(3, device=cuda), en.randint(
        0, 9, (6,), device=cuda)
    for a, b in zip(on_cpu, on_gpu, strict=True):
        assert b.device == "cuda:0"
        np.testing.assert_array_equal(b.cpu().numpy(), a.numpy())
    weights = []
    for device in ("cpu", cuda):
        en.manual_seed(5)
        layer = nn.Conv2d(2, 3, 3).to(device)
        nn.init.kaiming_normal_(layer.weight)
        nn.init.uniform_(layer.bias, -0.1, 0.1)
        assert layer.weight.device == en.device(device)
        weights.append((layer.weight.detach().cpu().numpy(), layer.bias.detach().cpu().numpy()))
    np.testing.assert_array_equal(weights[0][0], weights[1][0])
    np.testing.assert_array_equal(weights[0][1], weights[1][1])
    en.manual_seed(1)
    dropped = F.dropout(en.ones(200, device=cuda), 0.5)
    assert dropped.device == "cuda:0"
    kept = dropped.cpu().numpy()
    assert set(np.unique(kept).tolist()) == {0.0, 2.0} and 60 < (kept == 0).sum() < 140


def test_gpu_dropout_draws_on_the_device_and_repeats_after_manual_seed(cuda: str) -> None:
    masks = []
    for _ in range(2):
        en.manual_seed(7)
        masks.append([F.dropout(en.ones(64, device=cuda), 0.5).cpu().numpy() for _ in range(2)])
    np.testing.assert_array_equal(masks[0][0], masks[1][0])
    np.testing.assert_array_equal(masks[0][1], masks[1][1])
    assert not np.array_equal(masks[0][0], masks[0][1])  # the stream moves on between calls


def test_values_out_of_range_give_nan_on_the_gpu(cuda: str) -> None:
    weight = en.randn(4, 3, device=cuda, requires_grad=True)
    rows = F.embedding(en.tensor([[0, 4], [-1, 3]], device=cuda), weight)
    looked_up = rows.detach().cpu().numpy()
    assert np.isnan(looked_up[0, 1]).all() and np.isnan(looked_up[1, 0]).all()
    np.testing.assert_array_equal(looked_up[1, 1], weight.detach().cpu().numpy()[3])
    probs = en.tensor([0.5, 1.5], device=cuda)
    assert np.isnan(F.binary_cross_entropy(probs, en.tensor([1.0, 0.0], device=cuda)).item())


def test_cross_entropy_out_of_range_target_gives_nan_on_the_gpu(cuda: str) -> None:
    logits = en.randn(2, 3, device=cuda, requires_grad=True)
    loss = F.cross_entropy(logits, en.tensor([1, 3], device=cuda))
    assert np.isnan(loss.item())
    ignored = F.cross_entropy(logits, en.tensor([1, -100], device=cuda))
    expected = F.cross_entropy(logits.detach().cpu()[:1], en.tensor([1]))
    assert ignored.item() == pytest.approx(expected.item(), rel=1e-6)


def test_save_from_cuda_and_load_onto_either_device(cuda: str, tmp_path) -> None:
    en.manual_seed(0)
    model = nn.Linear(3, 2).to(cuda)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(en.randn(4, 3, device=cuda)).sum().backward()
    opt.step()
    en.save(model.state_dict(), tmp_path / "m.pt")
    en.save(opt.state_dict(), tmp_path / "o.pt")
    expected = {k: v.cpu().numpy() for k, v in model.state_dict().items()}
    on_cpu = en.load(tmp_path / "m.pt", map_location="cpu")
    on_gpu = en.load(tmp_path / "m.pt", map_location="cuda")
    as_saved = en.load(tmp_path / "m.pt")
    for key, value in expected.items():
        assert on_cpu[key].device == "cpu" and on_gpu[key].device == "cuda:0"
        assert as_saved[key].device == "cuda:0"
        np.testing.assert_array_equal(on_cpu[key].numpy(), value)
        np.testing.assert_array_equal(on_gpu[key].cpu().numpy(), value)
    fresh = nn.Linear(3, 2)
    fresh.load_state_dict(on_gpu)  # a GPU state dict into a CPU model: copied to the host
    assert fresh.weight.device == "cpu"
    np.testing.assert_array_equal(fresh.weight.detach().numpy(), expected["weight"])
    fresh.to(cuda)
    opt2 = optim.Adam(fresh.parameters(), lr=0.1)
    opt2.load_state_dict(en.load(tmp_path / "o.pt", map_location="cpu"))
    state = opt2.state[fresh.weight]
    assert state["exp_avg"].device == "cuda:0"
    np.testing.assert_array_equal(state["exp_avg"].cpu().numpy(),
                                  opt.state[model.weight]["exp_avg"].cpu().numpy())


def test_second_gpu(two_gpus: None, tmp_path) -> None:
    x = en.randn(3, 4, device="cuda:1", requires_grad=True)
    assert x.device == "cuda:1" and x._data.device.id == 1
    y = (x.exp() * 2 + en.ones(4, device="cuda:1")).sum()
    assert y.device == "cuda:1" and y._data.device.id == 1
    y.backward()
    assert x.grad.device == "cuda:1" and x.grad._data.device.id == 1
    np.testing.assert_allclose(x.grad.cpu().numpy(), 2 * np.exp(x.detach().cpu().numpy()),
                               rtol=1e-6)
    with pytest.raises(RuntimeError, match="cuda:1 and cuda:0|cuda:0 and cuda:1"):
        x + en.ones(4, device="cuda")
    moved = x.to("cuda:0")
    assert moved.device == "cuda:0" and moved._data.device.id == 0
    model = nn.Linear(4, 2).to("cuda:1")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    F.mse_loss(model(x.detach()), en.zeros(3, 2, device="cuda:1")).backward()
    opt.step()
    assert model.weight._data.device.id == 1
    assert opt.state[model.weight]["momentum_buffer"]._data.device.id == 1
    en.save(model.state_dict(), tmp_path / "m.pt")
    loaded = en.load(tmp_path / "m.pt")
    assert loaded["weight"].device == "cuda:1" and loaded["weight"]._data.device.id == 1
    remapped = en.load(tmp_path / "m.pt", map_location={"cuda:1": "cuda:0"})
    assert remapped["weight"]._data.device.id == 0
    with pytest.raises(RuntimeError, match="device 'cuda:2' does not exist"):
        en.ones(2, device="cuda:2")
