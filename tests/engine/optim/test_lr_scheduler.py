"""Every scheduler's learning rates (and cycled momenta) match PyTorch's for 100 steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine as en
from engine import optim
from engine.optim import lr_scheduler

torch = pytest.importorskip("torch")

STEPS = 100
CASES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [10, 30, 30, 80], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.95}),
    ("CosineAnnealingLR", {"T_max": 30, "eta_min": 1e-3}),  # 100 steps cross two restarts
    ("CosineAnnealingLR", {"T_max": 100}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 10}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 50}),
    ("OneCycleLR", {"max_lr": [0.1, 0.05], "total_steps": STEPS}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": STEPS, "anneal_strategy": "linear",
                    "three_phase": True, "pct_start": 0.25}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": STEPS, "cycle_momentum": False}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 0.97**epoch + 0.01 * (epoch % 5)}),
    ("LambdaLR", {"lr_lambda": [lambda e: 1 / (1 + e), lambda e: 0.5 + 0.5 * math.cos(e)]}),
    ("MultiplicativeLR", {"lr_lambda": lambda epoch: 0.9 if epoch % 3 else 1.05}),
    ("ConstantLR", {"factor": 0.25, "total_iters": 12}),
    ("ConstantLR", {}),
    ("PolynomialLR", {"total_iters": 40, "power": 2.0}),
    ("PolynomialLR", {}),
    ("CosineAnnealingWarmRestarts", {"T_0": 10, "eta_min": 1e-3}),
    ("CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 2}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": [0.1, 0.05], "step_size_up": 7,
                  "step_size_down": 13}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 10, "mode": "triangular2",
                  "base_momentum": 0.7}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 6, "mode": "exp_range",
                  "gamma": 0.98, "cycle_momentum": False}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 8,
                  "scale_fn": lambda x: 1 / (1 + 0.1 * x), "scale_mode": "iterations"}),
]
OPTIMIZERS = [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.1})]


def _pair(opt_name: str, opt_kwargs: dict) -> tuple:
    """Two param groups (different lrs) in an engine optimizer and a torch one."""
    ours = [en.nn.Parameter(en.zeros(2)), en.nn.Parameter(en.zeros(3))]
    theirs = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]

    def groups(p: list) -> list:
        return [{"params": [p[0]]}, {"params": [p[1]], "lr": opt_kwargs["lr"] / 3}]

    return (getattr(optim, opt_name)(groups(ours), **opt_kwargs),
            getattr(torch.optim, opt_name)(groups(theirs), **opt_kwargs))


def _trace(opt, sched, steps: int, metrics: list[float] | None = None) -> list:
    """(last_lr, per-group lr, momentum or beta1) before each of `steps` scheduler steps."""
    out = []
    for i in range(steps):
        momenta = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]
        out.append((list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], momenta))
        opt.step()
        if metrics is not None:
            sched.step(metrics[i])
        else:
            sched.step()
    return out


def _assert_same(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for x, y in zip(a, b, strict=True):
            assert x == pytest.approx(y, rel=1e-12, abs=1e-15), f"step {step}: {a} != {b}"


@pytest.mark.parametrize("opt_name,opt_kwargs", OPTIMIZERS, ids=["SGD", "Adam"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}{i}" for i, (n, _) in enumerate(CASES)])
def test_rates_match_torch(name: str, kwargs: dict, opt_name: str, opt_kwargs: dict) -> None:
    opt, topt = _pair(opt_name, opt_kwargs)
    ours = _trace(opt, getattr(lr_scheduler, name)(opt, **kwargs), STEPS)
    theirs = _trace(topt, getattr(torch.optim.lr_scheduler, name)(topt, **kwargs), STEPS)
    _assert_same(ours, theirs)
    assert len({tuple(r[1]) for r in ours}) > 1  # the schedule really changed the rates


PLATEAU = [
    {"factor": 0.5, "patience": 3},
    {"mode": "min", "factor": 0.5, "patience": 2, "threshold": 0.05, "cooldown": 3,
     "min_lr": [1e-3, 5e-3]},
    {"mode": "max", "factor": 0.2, "patience": 1, "threshold": 0.01, "threshold_mode": "abs",
     "min_lr": 1e-4, "eps": 1e-6},
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=["default", "cooldown-minlrs", "max-abs"])
def test_reduce_on_plateau_matches_torch(kwargs: dict) -> None:
    rng = np.random.default_rng(0)
    # falls, then wanders on a plateau, with a few spikes: every branch of the rule is used
    metrics = [float(v) for v in np.concatenate([np.linspace(2.0, 1.0, 20),
                                                 1.0 + 0.02 * rng.standard_normal(80)])]
    metrics[50], metrics[70] = 0.5, float("nan")
    opt, topt = _pair("SGD", {"lr": 0.1, "momentum": 0.9})
    ours = _trace(opt, lr_scheduler.ReduceLROnPlateau(opt, **kwargs), STEPS, metrics)
    theirs = _trace(topt, torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs), STEPS,
                    metrics)
    _assert_same(ours, theirs)
    assert len({tuple(r[1]) for r in ours}) > 2


def test_step_with_epoch_uses_closed_form() -> None:
    opt, topt = _pair("SGD", {"lr": 0.1})
    for sched in (lr_scheduler.CosineAnnealingLR(opt, T_max=10),):
        sched.step(7)
        assert sched.get_last_lr()[0] == pytest.approx(0.1 * (1 + math.cos(math.pi * 0.7)) / 2)


def test_errors() -> None:
    opt, _ = _pair("SGD", {"lr": 0.1})
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.OneCycleLR(optim.Adagrad([en.nn.Parameter(en.zeros(1))]), max_lr=1.0,
                                total_steps=5)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
