"""Small parameters stepped together over flat arrays give bitwise the per-parameter results."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest

import engine as en
from engine import optim
from engine.optim._flat import SMALL

torch = pytest.importorskip("torch")


# Each test with the NumPy updates and again with the compiled kernels (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("kernels")


def _expects_flat(name: str, kwargs: dict, compiled: bool) -> bool:
    """Whether the flat layout steps the small parameters: with the kernels, Adam without
    amsgrad, maximize or coupled weight decay calls one kernel per parameter instead."""
    direct = name == "AdamW" or not (kwargs.get("amsgrad") or kwargs.get("maximize")
                                     or kwargs.get("weight_decay"))
    return not (compiled and name.startswith("Adam") and direct)

# Two large tensors (stepped one by one) and four small ones (stepped together).
SHAPES = [(130, 130), (16,), (3, 16), (3,), (SMALL + 1,), (5, 2)]


def _start(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


def _grads(steps: int, seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(steps)]


def _groups(params: list, split: bool) -> list:
    if not split:
        return params
    return [{"params": params[:3]}, {"params": params[3:], "lr": 0.003}]


def _run(name: str, kwargs: dict, flat: bool, grads: list, split: bool = False,
         skip: tuple[int, int] | None = None) -> tuple[list, optim.Optimizer]:
    """Step our optimizer over grads; skip = (step, parameter) leaves that grad out once."""
    params = [en.nn.Parameter(en.tensor(a.copy())) for a in _start()]
    opt = getattr(optim, name)(_groups(params, split), **kwargs)
    opt._flat_small = flat
    for k, step_grads in enumerate(grads):
        for i, (p, g) in enumerate(zip(params, step_grads, strict=True)):
            p.grad = None if skip == (k, i) else en.tensor(g)
        opt.step()
    return params, opt


def _run_torch(name: str, kwargs: dict, grads: list, split: bool = False,
               skip: tuple[int, int] | None = None) -> list:
    params = [torch.tensor(a.copy(), requires_grad=True) for a in _start()]
    opt = getattr(torch.optim, name)(_groups(params, split), **kwargs)
    for k, step_grads in enumerate(grads):
        for i, (p, g) in enumerate(zip(params, step_grads, strict=True)):
            p.grad = None if skip == (k, i) else torch.from_numpy(g.copy())
        opt.step()
    return params


CASES = [
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "maximize": True, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=str)
@pytest.mark.parametrize("split", [False, True], ids=["one-group", "two-groups"])
def test_flat_steps_equal_per_parameter_steps_and_torch(name: str, kwargs: dict,
                                                        split: bool, kernels: bool) -> None:
    grads = _grads(6)
    skip = (3, 1)  # the 16-wide bias has no gradient at step 3: that step goes one by one
    fast, opt = _run(name, kwargs, True, grads, split, skip)
    slow, ref = _run(name, kwargs, False, grads, split, skip)
    theirs = _run_torch(name, kwargs, grads, split, skip)
    assert bool(opt._flat) == _expects_flat(name, kwargs, kernels)  # the path expected ran
    for a, b, t in zip(fast, slow, theirs, strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        np.testing.assert_allclose(a.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    state, ref_state = opt.state_dict(), ref.state_dict()
    assert state["param_groups"] == ref_state["param_groups"]
    assert sorted(state["state"]) == sorted(ref_state["state"])
    for i, entries in ref_state["state"].items():
        assert sorted(state["state"][i]) == sorted(entries)
        for key, value in entries.items():
            ours = state["state"][i][key]
            assert tuple(ours.shape) == tuple(value.shape), (i, key)
            np.testing.assert_array_equal(ours.numpy(), value.numpy(), err_msg=f"{i}.{key}")


def test_state_tensors_keep_their_arrays_and_versions_move() -> None:
    grads = _grads(3)
    params, opt = _run("Adam", {"lr": 0.01}, True, grads[:1])
    small = params[1]
    moment = opt.state[small]["exp_avg"]
    array, version = moment._data, moment._version
    data, pversion = small._data, small._version
    for p, g in zip(params, grads[1], strict=True):
        p.grad = en.tensor(g)
    opt.step()
    assert moment._data is array and small._data is data  # updated in place, never replaced
    assert moment._version > version and small._version > pversion
    assert float(opt.state[small]["step"]) == 2.0


def test_load_state_dict_then_flat_steps_match_uninterrupted() -> None:
    grads = _grads(8)
    whole, _ = _run("Adam", {"lr": 0.01, "amsgrad": True}, True, grads)
    first, opt = _run("Adam", {"lr": 0.01, "amsgrad": True}, True, grads[:4])
    buffer = io.BytesIO()
    en.save({"params": [p.detach() for p in first], "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = en.load(buffer)
    params = [en.nn.Parameter(t.clone()) for t in saved["params"]]
    resumed = optim.Adam(params, lr=0.01, amsgrad=True)
    resumed.load_state_dict(saved["opt"])
    for step_grads in grads[4:]:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = en.tensor(g)
        resumed.step()
    assert resumed._flat  # amsgrad: flat with or without the kernels
    for a, b in zip(params, whole, strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_param_group_added_later_matches_torch() -> None:
    # The layouts are kept per group index: a group added after some steps gets its own.
    grads = _grads(4)
    params = [en.nn.Parameter(en.tensor(a.copy())) for a in _start()]
    twins = [torch.tensor(a.copy(), requires_grad=True) for a in _start()]
    opt = optim.Adam(params[:2] + params[3:], lr=0.01)
    topt = torch.optim.Adam(twins[:2] + twins[3:], lr=0.01)
    for k, step_grads in enumerate(grads):
        if k == 2:
            opt.add_param_group({"params": [params[2]]})
            topt.add_param_group({"params": [twins[2]]})
        for p, t, g in zip(params, twins, step_grads, strict=True):
            p.grad, t.grad = en.tensor(g), torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    assert float(opt.state[params[2]]["step"]) == 2.0
    for p, t in zip(params, twins, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_same_optimizer_rewound_with_load_state_dict() -> None:
    # Loading into an optimizer that already has flat arrays: the loaded values, not the
    # arrays of its own later steps, must be what the next steps continue from.
    grads = _grads(8)
    whole, _ = _run("Adam", {"lr": 0.01}, True, grads)
    params, opt = _run("Adam", {"lr": 0.01}, True, grads[:4])
    saved = copy.deepcopy(opt.state_dict())
    values = [p.detach().numpy().copy() for p in params]
    for step_grads in grads[4:6]:  # two steps that the rewind must undo
        for p, g in zip(params, step_grads, strict=True):
            p.grad = en.tensor(g)
        opt.step()
    opt.load_state_dict(saved)
    with en.no_grad():
        for p, v in zip(params, values, strict=True):
            p.copy_(en.tensor(v))
    for step_grads in grads[4:]:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = en.tensor(g)
        opt.step()
    for a, b in zip(params, whole, strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
