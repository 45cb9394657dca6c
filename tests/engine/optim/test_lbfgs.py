"""LBFGS (plain and strong-Wolfe) against PyTorch on Rosenbrock functions; state round trips."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine import optim

START = {"x": [-1.5, 2.0], "y": [0.5, -0.3, 1.2]}
CONFIGS = [
    {"lr": 0.1, "max_iter": 5},
    {"lr": 0.05, "history_size": 3, "max_iter": 7},  # the history window fills and slides
    {"line_search_fn": "strong_wolfe", "max_iter": 5},
    {"line_search_fn": "strong_wolfe"},  # converges: the tolerance exits are taken
]
IDS = ["plain", "short-history", "wolfe-5", "wolfe-default"]


def _rosenbrock(v):
    return 100 * (v[1] - v[0] ** 2) ** 2 + (1 - v[0]) ** 2


def _problem(lib, make, kwargs: dict, start: dict | None = None):
    """Two parameters (so the flat vector spans both) and a closure over a Rosenbrock sum."""
    params = {k: make(v) for k, v in (start or START).items()}
    opt = lib.LBFGS(list(params.values()), **kwargs)

    def closure():
        opt.zero_grad()
        x, y = params["x"], params["y"]
        loss = _rosenbrock(x) + _rosenbrock(y[:2]) + _rosenbrock(y[1:])
        loss.backward()
        return loss

    return params, opt, closure


def _engine(kwargs: dict, dtype=en.float64, start: dict | None = None, device: str = "cpu"):
    return _problem(optim, lambda v: en.tensor(v, dtype=dtype, device=device, requires_grad=True),
                    kwargs, start)


def _torch(torch, kwargs: dict, dtype=None, start: dict | None = None):
    dtype = dtype or torch.float64
    return _problem(torch.optim, lambda v: torch.tensor(v, dtype=dtype, requires_grad=True),
                    kwargs, start)


def _losses(opt, closure, steps: int) -> list[float]:
    return [float(opt.step(closure).item()) for _ in range(steps)]


def _values(params: dict) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in params.items()}


@pytest.mark.parametrize("kwargs", CONFIGS, ids=IDS)
def test_trajectory_matches_torch_in_float64(kwargs: dict) -> None:
    """In float64 rounding noise cannot build up: every step and every count must agree."""
    torch = pytest.importorskip("torch")
    params, opt, closure = _engine(kwargs)
    tparams, topt, tclosure = _torch(torch, kwargs)
    losses, tlosses = _losses(opt, closure, 10), _losses(topt, tclosure, 10)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-8, atol=1e-12)
    assert losses[-1] < 0.1 * losses[0]
    for k, value in _values(params).items():
        np.testing.assert_allclose(value, _values(tparams)[k], rtol=1e-8, atol=1e-10)
    state, tstate = opt.state_dict()["state"], topt.state_dict()["state"]
    assert list(state) == list(tstate) == [0]
    assert sorted(state[0]) == sorted(tstate[0])
    for key in ("func_evals", "n_iter"):
        assert state[0][key] == tstate[0][key]
    np.testing.assert_allclose(state[0]["d"].numpy(), tstate[0]["d"].numpy(), rtol=1e-6,
                               atol=1e-10)
    assert len(state[0]["old_dirs"]) == len(tstate[0]["old_dirs"])


@pytest.mark.parametrize("kwargs", CONFIGS[::2], ids=IDS[::2])
def test_float32_tracks_torch_and_converges(kwargs: dict) -> None:
    """Rosenbrock amplifies float32 noise, so float32 runs agree for the first steps only."""
    torch = pytest.importorskip("torch")
    _, opt, closure = _engine(kwargs, en.float32)
    _, topt, tclosure = _torch(torch, kwargs, torch.float32)
    np.testing.assert_allclose(_losses(opt, closure, 3), _losses(topt, tclosure, 3), rtol=1e-4)


def test_strong_wolfe_reaches_the_minimum_in_float32(backend: str) -> None:
    params, opt, closure = _engine({"line_search_fn": "strong_wolfe"}, en.float32, device=backend)
    _losses(opt, closure, 5)
    for value in params.values():
        assert value.device == backend
        np.testing.assert_allclose(value.detach().cpu().numpy(), np.ones(value.shape), atol=1e-3)
    state = opt.state_dict()["state"][0]
    assert state["d"].device == backend and state["old_dirs"][0].device == backend


@pytest.mark.parametrize("kwargs", CONFIGS[1:3], ids=IDS[1:3])
def test_state_dict_round_trip_continues_identically(tmp_path, kwargs: dict) -> None:
    params, opt, closure = _engine(kwargs)
    _losses(opt, closure, 8)
    params2, opt2, closure2 = _engine(kwargs)
    _losses(opt2, closure2, 4)
    path = tmp_path / "lbfgs.safetensors"
    en.save({"params": _values(params2), "optimizer": opt2.state_dict()}, path)
    blob = en.load(path)
    start = {k: np.asarray(v).tolist() for k, v in blob["params"].items()}
    params3, opt3, closure3 = _engine(kwargs, start=start)
    opt3.load_state_dict(blob["optimizer"])
    _losses(opt3, closure3, 4)
    for k, value in _values(params).items():
        np.testing.assert_array_equal(_values(params3)[k], value)
    assert opt3.state_dict()["state"][0]["func_evals"] == opt.state_dict()["state"][0][
        "func_evals"]


def _from_torch(torch, value):
    if isinstance(value, torch.Tensor):
        return en.tensor(value.detach().numpy().copy())
    if isinstance(value, dict):
        return {k: _from_torch(torch, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_torch(torch, v) for v in value]
    return value


def test_torch_state_dict_loads_and_continues() -> None:
    torch = pytest.importorskip("torch")
    kwargs = CONFIGS[2]
    tparams, topt, tclosure = _torch(torch, kwargs)
    _losses(topt, tclosure, 3)
    start = {k: v.tolist() for k, v in _values(tparams).items()}
    params, opt, closure = _engine(kwargs, start=start)
    opt.load_state_dict(_from_torch(torch, topt.state_dict()))
    np.testing.assert_allclose(_losses(opt, closure, 4), _losses(topt, tclosure, 4), rtol=1e-8)
    for k, value in _values(params).items():
        np.testing.assert_allclose(value, _values(tparams)[k], rtol=1e-8, atol=1e-10)


def test_errors() -> None:
    a, b = en.nn.Parameter(en.zeros(2)), en.nn.Parameter(en.zeros(3))
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(TypeError, match="closure"):
        optim.LBFGS([a]).step()
    _, opt, closure = _engine({"line_search_fn": "backtracking"})
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)
    _, opt, closure = _engine({})
    opt.step(closure)
    state = opt.state_dict()
    other = optim.LBFGS([en.nn.Parameter(en.zeros(2)), en.nn.Parameter(en.zeros(4))])
    with pytest.raises(optim.OptimizerStateError, match="has 5 values but the parameters have 6"):
        other.load_state_dict(state)


def test_already_optimal_returns_without_moving() -> None:
    params, opt, closure = _engine({}, start={"x": [1.0, 1.0], "y": [1.0, 1.0, 1.0]})
    assert float(opt.step(closure).item()) == 0.0
    assert opt.state_dict()["state"][0] == {"func_evals": 1, "n_iter": 0}
    np.testing.assert_array_equal(_values(params)["y"], [1.0, 1.0, 1.0])
