"""SequentialLR, ChainedScheduler, epoch jumps and state-dict resumes of the newer schedulers."""

from __future__ import annotations

import pytest
from test_lr_scheduler import STEPS, _assert_same, _pair, _trace

import engine as en
from engine import optim
from engine.optim import lr_scheduler

torch = pytest.importorskip("torch")


def _sequential(lib, opt):
    return lib.SequentialLR(opt, [lib.LinearLR(opt, start_factor=0.1, total_iters=5),
                                  lib.CosineAnnealingLR(opt, T_max=40, eta_min=1e-3)],
                            milestones=[5])


def _sequential3(lib, opt):
    return lib.SequentialLR(opt, [lib.ConstantLR(opt, factor=0.5, total_iters=10),
                                  lib.ExponentialLR(opt, gamma=0.9),
                                  lib.StepLR(opt, step_size=7, gamma=0.5)], milestones=[3, 20])


def _chained(lib, opt):
    return lib.ChainedScheduler([lib.ConstantLR(opt, factor=0.2, total_iters=15),
                                 lib.ExponentialLR(opt, gamma=0.97),
                                 lib.MultiStepLR(opt, milestones=[30, 60], gamma=0.5)])


def _nested(lib, opt):
    return lib.ChainedScheduler([_sequential(lib, opt),
                                 lib.MultiStepLR(opt, milestones=[30, 60], gamma=0.5)])


def _cyclic_chain(lib, opt):
    return lib.ChainedScheduler([lib.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=5),
                                 lib.ExponentialLR(opt, gamma=0.99)], optimizer=opt)


BUILDERS = [_sequential, _sequential3, _chained, _nested, _cyclic_chain]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("build", BUILDERS, ids=[b.__name__[1:] for b in BUILDERS])
def test_composed_rates_match_torch(build, opt_name: str) -> None:
    opt, topt = _pair(opt_name, {"lr": 0.1, "momentum": 0.9} if opt_name == "SGD"
                      else {"lr": 0.1})
    ours = _trace(opt, build(lr_scheduler, opt), STEPS)
    theirs = _trace(topt, build(torch.optim.lr_scheduler, topt), STEPS)
    _assert_same(ours, theirs)
    assert len({tuple(r[1]) for r in ours}) > 5


@pytest.mark.filterwarnings("ignore:The epoch parameter")  # torch's deprecation of step(epoch)
@pytest.mark.parametrize("t_mult", [1, 2])
def test_warm_restarts_epoch_jumps_match_torch(t_mult: int) -> None:
    opt, topt = _pair("SGD", {"lr": 0.1})
    ours = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=t_mult, eta_min=0.01)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=4, T_mult=t_mult,
                                                                  eta_min=0.01)
    for epoch in [0.5, 1.25, 3.9, 4, 7.5, 12, 13.3, 30.7, 2, 61]:
        ours.step(epoch)
        theirs.step(epoch)
        _assert_same([ours.get_last_lr()], [theirs.get_last_lr()])
        assert (ours.T_cur, ours.T_i, ours.last_epoch) == (theirs.T_cur, theirs.T_i,
                                                           theirs.last_epoch)


@pytest.mark.filterwarnings("ignore:The epoch parameter", "ignore:Detected call of")
@pytest.mark.parametrize(("name", "kwargs"), [
    ("ConstantLR", {"factor": 0.5, "total_iters": 4}),
    ("PolynomialLR", {"total_iters": 10, "power": 1.5}),
])
def test_closed_form_epoch_jumps_match_torch(name: str, kwargs: dict) -> None:
    opt, topt = _pair("SGD", {"lr": 0.1})
    ours = getattr(lr_scheduler, name)(opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for epoch in [2, 7, 3, 15, 0]:
        ours.step(epoch)
        theirs.step(epoch)
        _assert_same([ours.get_last_lr()], [theirs.get_last_lr()])


class _Warmup:
    """A callable object: LambdaLR's state dict keeps its attributes."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __call__(self, epoch: int) -> float:
        return min(1.0, (epoch + 1) / self.length)


RESUMABLE = [
    lambda opt: lr_scheduler.LambdaLR(opt, _Warmup(10)),
    lambda opt: lr_scheduler.MultiplicativeLR(opt, lambda e: 0.95),
    lambda opt: lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=15),
    lambda opt: lr_scheduler.PolynomialLR(opt, total_iters=25, power=2.0),
    lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2),
    lambda opt: lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4,
                                      mode="triangular2"),
    lambda opt: _sequential(lr_scheduler, opt),
    lambda opt: _nested(lr_scheduler, opt),
]
RESUME_IDS = ["lambda", "multiplicative", "constant", "polynomial", "warm-restarts", "cyclic",
              "sequential", "nested"]


@pytest.mark.parametrize("build", RESUMABLE, ids=RESUME_IDS)
def test_resume_through_a_file_is_identical(tmp_path, build) -> None:
    opt, _ = _pair("SGD", {"lr": 0.1, "momentum": 0.9})
    straight = _trace(opt, build(opt), 40)
    opt2, _ = _pair("SGD", {"lr": 0.1, "momentum": 0.9})
    sched2 = build(opt2)
    first = _trace(opt2, sched2, 20)
    path = tmp_path / "sched.safetensors"
    en.save({"optimizer": opt2.state_dict(), "scheduler": sched2.state_dict()}, path)
    blob = en.load(path)
    opt3, _ = _pair("SGD", {"lr": 0.1, "momentum": 0.9})
    sched3 = build(opt3)
    opt3.load_state_dict(blob["optimizer"])
    sched3.load_state_dict(blob["scheduler"])
    _assert_same(first + _trace(opt3, sched3, 20), straight)


def test_lambda_state_keeps_callable_objects_only() -> None:
    opt, _ = _pair("SGD", {"lr": 0.1})
    warm = _Warmup(7)
    sched = lr_scheduler.LambdaLR(opt, [warm, lambda e: 1.0])
    assert sched.state_dict()["lr_lambdas"] == [{"length": 7}, None]
    warm.length = 3
    sched.load_state_dict({**sched.state_dict(), "lr_lambdas": [{"length": 11}, None]})
    assert warm.length == 11


def test_errors() -> None:
    opt, _ = _pair("SGD", {"lr": 0.1})
    other, _ = _pair("SGD", {"lr": 0.1})
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 3"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0] * 3)
    with pytest.raises(TypeError, match="lr_lambda should be a function, but got float"):
        lr_scheduler.MultiplicativeLR(opt, 0.5)
    with pytest.raises(ValueError, match="Constant multiplicative factor expected to be between"):
        lr_scheduler.ConstantLR(opt, factor=1.5)
    with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="Expected integer T_mult >= 1, but got 0"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
        lr_scheduler.CyclicLR(opt, 0.01, 0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        lr_scheduler.CyclicLR(opt, 0.01, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.CyclicLR(optim.Adagrad([en.nn.Parameter(en.zeros(1))]), 0.01, 0.1)
    step = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.raises(ValueError, match="expects at least one scheduler, but got no"):
        lr_scheduler.SequentialLR(opt, [], milestones=[])
    with pytest.raises(ValueError, match="number of schedulers 1 and the number of milestones "
                                         "to be equal to 1"):
        lr_scheduler.SequentialLR(opt, [step], milestones=[3])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        lr_scheduler.ChainedScheduler([step, lr_scheduler.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        lr_scheduler.ChainedScheduler([step, lr_scheduler.StepLR(other, step_size=2)])
    with pytest.raises(TypeError, match="at index 0 should have `optimizer` as its attribute"):
        lr_scheduler.SequentialLR(opt, [object()], milestones=[])
