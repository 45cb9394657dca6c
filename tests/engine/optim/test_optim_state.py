"""Optimizer base behaviour and state-dict round trips (through engine.save / engine.load)."""

from __future__ import annotations

import numpy as np
import pytest
from _optim_problem import batches, engine_params, initial_weights, loss_fn, to_numpy, train

import engine as en
from engine import optim
from engine.optim import lr_scheduler

RESUME_CASES = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
     "StepLR", {"step_size": 3, "gamma": 0.5}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}, "OneCycleLR", {"max_lr": 0.05, "total_steps": 20}),
    ("AdamW", {"lr": 1e-2}, "CosineAnnealingLR", {"T_max": 7}),
    ("RMSprop", {"lr": 1e-2, "centered": True, "momentum": 0.9}, "MultiStepLR",
     {"milestones": [4, 12, 12]}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}, "LinearLR", {"start_factor": 0.5}),
    ("Adam", {"lr": 1e-2}, "ReduceLROnPlateau", {"patience": 1, "factor": 0.5}),
    ("NAdam", {"lr": 1e-2, "weight_decay": 1e-2}, "CyclicLR",
     {"base_lr": 1e-3, "max_lr": 1e-2, "step_size_up": 4}),
    ("RAdam", {"lr": 1e-2}, "CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2}),
    ("Adadelta", {"weight_decay": 1e-2}, "PolynomialLR", {"total_iters": 15}),
    ("Adamax", {"lr": 1e-2}, "ConstantLR", {"factor": 0.5, "total_iters": 12}),
    ("ASGD", {"lr": 0.05, "t0": 3}, "MultiplicativeLR", {"lr_lambda": lambda epoch: 0.95}),
    ("Rprop", {"lr": 1e-2}, "LambdaLR", {"lr_lambda": lambda epoch: 1 / (1 + epoch)}),
]


def _setup(opt_name: str, opt_kw: dict, sched_name: str, sched_kw: dict):
    params = engine_params(initial_weights())
    opt = getattr(optim, opt_name)(params.values(), **opt_kw)
    return params, opt, getattr(lr_scheduler, sched_name)(opt, **sched_kw)


def _steps(params, opt, sched, data) -> None:
    for x, y in data:
        opt.zero_grad()
        loss = loss_fn(params, en.tensor(x), en.tensor(y))
        loss.backward()
        opt.step()
        if isinstance(sched, lr_scheduler.ReduceLROnPlateau):
            sched.step(round(loss.item(), 1))  # coarse, so the plateau rule fires
        else:
            sched.step()


@pytest.mark.parametrize("case", RESUME_CASES, ids=[f"{c[0]}-{c[2]}" for c in RESUME_CASES])
def test_resume_is_identical_to_uninterrupted(tmp_path, case) -> None:
    data = batches(20)
    params, opt, sched = _setup(*case)
    _steps(params, opt, sched, data)

    params2, opt2, sched2 = _setup(*case)
    _steps(params2, opt2, sched2, data[:10])
    path = tmp_path / "ckpt.safetensors"
    en.save({"model": params2, "optimizer": opt2.state_dict(), "scheduler": sched2.state_dict(),
             "epoch": 3}, path)
    del params2, opt2, sched2

    blob = en.load(path)
    params3 = engine_params({k: to_numpy(v) for k, v in blob["model"].items()})
    params3_, opt3, sched3 = _setup(*case)  # fresh objects; scheduler built before loading
    for k, p in params3_.items():
        p._data[...] = params3[k]._data
    opt3.load_state_dict(blob["optimizer"])
    sched3.load_state_dict(blob["scheduler"])
    assert blob["epoch"] == 3
    _steps(params3_, opt3, sched3, data[10:])

    for k in params:
        np.testing.assert_array_equal(to_numpy(params3_[k]), to_numpy(params[k]), err_msg=k)
    assert sched3.get_last_lr() == sched.get_last_lr()
    assert opt3.param_groups == [dict(g, params=g2["params"]) for g, g2 in
                                 zip(opt.param_groups, opt3.param_groups, strict=True)]
    for p, p3 in zip(params.values(), params3_.values(), strict=True):
        for key, value in opt.state[p].items():
            np.testing.assert_array_equal(to_numpy(opt3.state[p3][key]), to_numpy(value))


def test_state_dict_layout_and_fresh_copies() -> None:
    params = engine_params(initial_weights())
    opt = optim.Adam([{"params": [params["w1"], params["b1"]]},
                      {"params": [params["w2"], params["b2"]], "lr": 0.1}])
    train(opt, params, batches(2), en.tensor)
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert sd["state"][3]["step"].item() == 2.0 and sd["state"][3]["step"].dtype == en.float32

    other = engine_params(initial_weights())
    opt2 = optim.Adam([{"params": [other["w1"], other["b1"]]},
                       {"params": [other["w2"], other["b2"]]}])
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.1
    loaded = opt2.state[other["w2"]]["exp_avg"]
    np.testing.assert_array_equal(to_numpy(loaded), to_numpy(sd["state"][2]["exp_avg"]))
    assert loaded._data is not sd["state"][2]["exp_avg"]._data  # loading copies


def _adam_state():
    params = engine_params(initial_weights())
    opt = optim.Adam(params.values(), lr=0.01)
    train(opt, params, batches(1), en.tensor)
    return opt.state_dict()


def test_load_state_dict_rejects_mismatches() -> None:
    sd = _adam_state()
    w = engine_params(initial_weights())
    with pytest.raises(ValueError, match="1 parameter group.* the optimizer has 2"):
        optim.Adam([{"params": [w["w1"]]}, {"params": [w["b1"], w["w2"], w["b2"]]}]) \
            .load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 .* 4 parameter.* optimizer's has 3"):
        optim.Adam([w["w1"], w["b1"], w["w2"]]).load_state_dict(sd)
    swapped = [w["b1"], w["w1"], w["w2"], w["b2"]]
    with pytest.raises(en.CheckpointError, match=r"'exp_avg' of parameter 0 has shape \(8, 5\)"):
        optim.Adam(swapped).load_state_dict(sd)
    with pytest.raises(en.CheckpointError, match="'state' and 'param_groups'"):
        optim.Adam(swapped).load_state_dict({"state": {}})


def test_step_updates_in_place_and_zero_grad() -> None:
    params = engine_params(initial_weights())
    arrays = {k: p._data for k, p in params.items()}
    opt = optim.Adam(params.values(), lr=0.01)
    train(opt, params, batches(1), en.tensor)
    moments = {k: opt.state[p]["exp_avg"]._data for k, p in params.items()}
    train(opt, params, batches(2), en.tensor)
    for k, p in params.items():
        assert p._data is arrays[k]  # other code holds these arrays: never replaced
        assert opt.state[p]["exp_avg"]._data is moments[k]
        assert not np.array_equal(p._data, initial_weights()[k])
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad._data.any() for p in params.values())
    opt.zero_grad()
    assert all(p.grad is None for p in params.values())


def test_step_with_closure_and_missing_grads() -> None:
    params = engine_params(initial_weights())
    opt = optim.SGD(params.values(), lr=0.1)
    x, y = batches(1)[0]

    def closure():
        opt.zero_grad()
        loss = loss_fn({**params, "b2": params["b2"].detach()}, en.tensor(x), en.tensor(y))
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, en.Tensor) and loss.item() > 0
    np.testing.assert_array_equal(to_numpy(params["b2"]), initial_weights()["b2"])  # no grad
    w1 = initial_weights()["w1"] - 0.1 * to_numpy(params["w1"].grad)
    np.testing.assert_allclose(to_numpy(params["w1"]), w1, rtol=1e-6)


def test_constructor_errors() -> None:
    p = en.nn.Parameter(en.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], momentum=0, nesterov=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2])
    opt = optim.SGD([p], lr=0.1)
    q = en.nn.Parameter(en.zeros(3))
    opt.add_param_group({"params": q, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0
    named = optim.Adagrad([("a", p), ("b", q)])
    assert named.state_dict()["param_groups"][0]["param_names"] == ["a", "b"]
    assert sorted(named.state_dict()["state"][1]) == ["step", "sum"]  # eager, as in torch
