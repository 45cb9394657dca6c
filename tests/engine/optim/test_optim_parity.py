"""Each optimizer, run 20 steps on the same batches from the same weights, matches PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from _optim_problem import batches, engine_params, initial_weights, to_numpy, torch_params, train

import engine as en
from engine import optim

torch = pytest.importorskip("torch")

CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-3,
             "maximize": False}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "centered": True, "momentum": 0.9, "weight_decay": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.5, "alpha": 0.9}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 1e-2,
                 "initial_accumulator_value": 0.1}),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 1e-2, "foreach": False}),  # the default implementation, spelled out
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 1e-2}),
    ("Adamax", {"lr": 1e-2}),
    ("Adamax", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2}),
    ("NAdam", {"lr": 1e-2}),
    ("NAdam", {"lr": 1e-2, "weight_decay": 1e-2, "momentum_decay": 1e-2}),
    ("NAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 1e-2}),  # 20 steps cross the switch to the rectified adaptive step
    ("RAdam", {"lr": 1e-2, "betas": (0.8, 0.9), "weight_decay": 1e-2}),
    ("RAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("ASGD", {"lr": 0.05}),
    ("ASGD", {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5, "t0": 5, "weight_decay": 1e-2}),
    ("Rprop", {"lr": 1e-2}),
    ("Rprop", {"lr": 1e-2, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.05)}),
]
IDS = [f"{name}-{'-'.join(sorted(kw))}" for name, kw in CASES]


def _run_both(name: str, kwargs: dict, device: str = "cpu", groups: bool = False):
    weights, data = initial_weights(), batches()
    ours, theirs = engine_params(weights, device), torch_params(torch, weights)

    def param_arg(p: dict) -> list:
        if not groups:
            return list(p.values())
        return [{"params": [p["w1"], p["b1"]]},
                {"params": [p["w2"], p["b2"]], "lr": kwargs["lr"] / 4}]

    opt = getattr(optim, name)(param_arg(ours), **kwargs)
    topt = getattr(torch.optim, name)(param_arg(theirs), **kwargs)
    losses = train(opt, ours, data, lambda a: en.tensor(a, device=device))
    tlosses = train(topt, theirs, data, torch.from_numpy)
    return opt, topt, ours, theirs, losses, tlosses


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_twenty_steps_match_torch(name: str, kwargs: dict) -> None:
    opt, topt, ours, theirs, losses, tlosses = _run_both(name, kwargs)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-5, atol=1e-6)
    for k in ours:
        np.testing.assert_allclose(to_numpy(ours[k]), to_numpy(theirs[k]), rtol=1e-5, atol=2e-6,
                                   err_msg=f"{name} parameter {k}")
        assert not np.array_equal(to_numpy(ours[k]), initial_weights()[k])  # it really moved
    # The optimizer state has torch's keys and values, parameter by parameter.
    state, tstate = opt.state_dict()["state"], topt.state_dict()["state"]
    assert sorted(state) == sorted(tstate)
    for i in tstate:
        assert sorted(state[i]) == sorted(tstate[i])
        for key, tval in tstate[i].items():
            np.testing.assert_allclose(to_numpy(state[i][key]), to_numpy(tval), rtol=1e-4,
                                       atol=1e-6, err_msg=f"{name} state {i}.{key}")


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_param_groups_match_torch(name: str) -> None:
    kwargs = {"SGD": {"lr": 0.05, "momentum": 0.9}, "Adam": {"lr": 0.01},
              "RMSprop": {"lr": 0.01, "momentum": 0.5}}[name]
    opt, topt, ours, theirs, _, _ = _run_both(name, kwargs, groups=True)
    for k in ours:
        np.testing.assert_allclose(to_numpy(ours[k]), to_numpy(theirs[k]), rtol=1e-5, atol=2e-6)
    assert opt.param_groups[1]["lr"] == topt.param_groups[1]["lr"]


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
                                  "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"])
def test_maximize_matches_torch(name: str) -> None:
    kwargs = {"lr": 1e-3, "maximize": True, "weight_decay": 1e-2}
    if name == "Rprop":
        kwargs.pop("weight_decay")  # Rprop has no weight decay
    _, _, ours, theirs, _, _ = _run_both(name, kwargs)
    for k in ours:
        np.testing.assert_allclose(to_numpy(ours[k]), to_numpy(theirs[k]), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "Adamax",
                                  "NAdam", "RAdam", "ASGD", "Rprop"])
def test_on_backend_matches_torch(backend: str, name: str) -> None:
    kwargs = {"lr": 0.01, "momentum": 0.9, "nesterov": True} if name == "SGD" else {"lr": 0.01}
    opt, _, ours, theirs, _, _ = _run_both(name, kwargs, device=backend)
    for k in ours:
        assert ours[k].device == backend
        np.testing.assert_allclose(to_numpy(ours[k]), to_numpy(theirs[k]), rtol=1e-5, atol=2e-6)
    for st in opt.state.values():
        assert st
        for key, value in st.items():  # step counters stay on the host, like torch's
            assert value.device == ("cpu" if key in ("step", "mu_product") else backend)


def _from_torch(value):
    if isinstance(value, torch.Tensor):
        return en.tensor(value.detach().numpy().copy())
    if isinstance(value, dict):
        return {k: _from_torch(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_torch(v) for v in value]
    return value


def test_param_group_keys_are_torchs() -> None:
    """Every hyperparameter and implementation switch torch keeps in a group, ours keeps too."""
    for name in sorted({name for name, _ in CASES} | {"LBFGS", "SparseAdam"}):
        group = getattr(optim, name)([en.zeros(2, requires_grad=True)]).param_groups[0]
        tgroup = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).param_groups[0]
        assert list(group) == list(tgroup), name
        assert {k: v for k, v in group.items() if k != "params"} == {
            k: v for k, v in tgroup.items() if k != "params"}, name


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_torch_state_dict_loads_and_continues(name: str, kwargs: dict) -> None:
    """The state dict layout is torch's: a torch optimizer's state resumes in ours."""
    weights, data = initial_weights(), batches()
    theirs = torch_params(torch, weights)
    topt = getattr(torch.optim, name)(list(theirs.values()), **kwargs)
    train(topt, theirs, data[:10], torch.from_numpy)
    tsd = topt.state_dict()
    ours = engine_params({k: to_numpy(v) for k, v in theirs.items()})
    opt = getattr(optim, name)(list(ours.values()), **kwargs)
    for group, tgroup in zip(opt.param_groups, tsd["param_groups"], strict=True):
        assert set(group) - {"params"} <= set(tgroup)  # our keys are a subset of torch's
        assert all(group[k] == tgroup[k] for k in group if k != "params")
    opt.load_state_dict(_from_torch(tsd))
    train(opt, ours, data[10:], en.tensor)
    train(topt, theirs, data[10:], torch.from_numpy)
    for k in ours:
        np.testing.assert_allclose(to_numpy(ours[k]), to_numpy(theirs[k]), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("kwargs", [{"lr": 1e-3}, {"lr": 1e-3, "amsgrad": True},
                                    {"lr": 1e-3, "eps": 1e-4, "weight_decay": 1e-2}], ids=str)
def test_adam_matches_torch_where_eps_dominates(kwargs: dict) -> None:
    # Gradients of ~1e-8 make sqrt(v) comparable to eps: the regime in which folding the bias
    # correction into eps and into the step size (Adam's cheaper form) would show a mistake.
    rng = np.random.default_rng(5)
    start = rng.standard_normal((6, 4)).astype(np.float32)
    grads = [(rng.standard_normal((6, 4)) * 10.0 ** rng.integers(-9, -6)).astype(np.float32)
             for _ in range(40)]
    ours = en.nn.Parameter(en.tensor(start.copy()))
    theirs = torch.tensor(start.copy(), requires_grad=True)
    opt, topt = optim.Adam([ours], **kwargs), torch.optim.Adam([theirs], **kwargs)
    for g in grads:
        ours.grad, theirs.grad = en.tensor(g), torch.from_numpy(g)
        opt.step()
        topt.step()
    moved = start - theirs.detach().numpy()
    assert np.abs(moved).max() > 1e-3  # eps-sized denominators: the steps are not negligible
    np.testing.assert_allclose(to_numpy(ours), theirs.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(start - to_numpy(ours), moved, rtol=1e-4, atol=1e-8)
