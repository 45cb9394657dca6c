"""Optimizers and engine.save/load driving nn.Module models, checked against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine import nn, optim
from engine.optim import lr_scheduler


def _data(n: int = 8, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((6, 3))
    xs = [rng.standard_normal((16, 6)).astype(np.float32) for _ in range(n)]
    return [(x, (x @ teacher).argmax(1)) for x in xs]  # learnable labels


def _model(lib, batch_norm: bool = False) -> object:
    # Parity runs use a smooth net: with ReLU + BatchNorm, near-dead units get rounding-noise
    # gradients that Adam-type steps magnify into differences no two libraries agree on.
    if batch_norm:
        return lib.Sequential(lib.Linear(6, 8), lib.ReLU(), lib.BatchNorm1d(8), lib.Linear(8, 3))
    return lib.Sequential(lib.Linear(6, 8), lib.Tanh(), lib.Linear(8, 3))


def _fit(model, opt, sched, data, tensor, crit=None) -> list[float]:
    crit = crit or nn.CrossEntropyLoss()
    losses = []
    for x, y in data:
        opt.zero_grad()
        loss = crit(model(tensor(x)), tensor(y))
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("AdamW", {"lr": 0.05}),
])
def test_module_training_matches_torch(name: str, kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _model(torch.nn)
    ours = _model(nn)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    data = _data()
    opt = getattr(optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    sched = lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=5, gamma=0.5)
    losses = _fit(ours, opt, sched, data, en.tensor)
    tlosses = _fit(theirs, topt, tsched, data, torch.from_numpy,
                   torch.nn.CrossEntropyLoss())
    np.testing.assert_allclose(losses, tlosses, rtol=1e-5, atol=1e-6)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    tsd = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v.numpy(), tsd[k].numpy(), rtol=1e-5, atol=2e-6, err_msg=k)


def test_checkpoint_resume_of_a_module_is_bit_exact(tmp_path) -> None:
    data = _data(10)

    def fresh():
        en.manual_seed(1)
        model = _model(nn, batch_norm=True)
        opt = optim.Adam(model.parameters(), lr=0.01)
        return model, opt, lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=10)

    model, opt, sched = fresh()
    _fit(model, opt, sched, data, en.tensor)

    model2, opt2, sched2 = fresh()
    _fit(model2, opt2, sched2, data[:4], en.tensor)
    en.save({"model": model2.state_dict(), "optimizer": opt2.state_dict(),
             "scheduler": sched2.state_dict(), "epoch": 3}, tmp_path / "ckpt.safetensors")

    blob = en.load(tmp_path / "ckpt.safetensors")
    model3, opt3, sched3 = fresh()
    model3.load_state_dict(blob["model"])
    opt3.load_state_dict(blob["optimizer"])
    sched3.load_state_dict(blob["scheduler"])
    _fit(model3, opt3, sched3, data[4:], en.tensor)

    final, resumed = model.state_dict(), model3.state_dict()
    assert list(final) == list(resumed)
    for k in final:  # running statistics and num_batches_tracked included
        assert final[k].dtype == resumed[k].dtype
        assert final[k].numpy().tobytes() == resumed[k].numpy().tobytes(), k


def test_saved_module_state_dict_loads_into_torch(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    ours = _model(nn, batch_norm=True).eval()
    en.save(ours.state_dict(), tmp_path / "m.safetensors")
    theirs = _model(torch.nn, batch_norm=True).eval()
    theirs.load_state_dict(load_file(tmp_path / "m.safetensors"))
    x = _data(1)[0][0]
    np.testing.assert_allclose(ours(en.tensor(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
