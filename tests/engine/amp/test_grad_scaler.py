"""GradScaler: skipped steps and back-off, growth, unscale_ before clipping, errors, state dicts,
and the same scales and skip decisions as torch.amp.GradScaler('cpu')."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine as en
from engine import nn, optim
from engine.amp import GradScaler
from engine.nn.utils import clip_grad_norm_


def _setup(backend: str, **kwargs):
    en.manual_seed(0)
    model = nn.Linear(4, 2).to(backend)
    opt = optim.Adam(model.parameters(), lr=0.1)
    return model, opt, GradScaler("cpu" if backend == "cpu" else "cuda", **kwargs)


def _loss(model: nn.Module, backend: str, blow_up: bool = False) -> en.Tensor:
    x = en.ones(3, 4, device=backend) * (3e38 if blow_up else 1.0)
    return model(x).sum()  # 3e38 inputs: the scaled weight gradient overflows to inf


def _step(model, opt, scaler, backend, blow_up=False):
    opt.zero_grad()
    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point
        scaler.scale(_loss(model, backend, blow_up)).backward()
    result = scaler.step(opt)
    scaler.update()
    return result


def test_overflow_skips_the_step_and_backs_off(backend: str) -> None:
    model, opt, scaler = _setup(backend)
    before = [p.detach().cpu().numpy().copy() for p in model.parameters()]
    assert _step(model, opt, scaler, backend, blow_up=True) is None
    for p, old in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.detach().cpu().numpy(), old)
    assert opt.state_dict()["state"] == {}  # Adam never ran: no moments, no step count
    assert scaler.get_scale() == 2.0**15
    _step(model, opt, scaler, backend)  # a clean step moves the parameters
    assert not np.array_equal(model.weight.detach().cpu().numpy(), before[0])
    assert scaler.get_scale() == 2.0**15


def test_nan_gradients_skip_too() -> None:
    model, opt, scaler = _setup("cpu", init_scale=4.0)
    opt.zero_grad()
    scaler.scale(_loss(model, "cpu")).backward()
    model.bias.grad = en.tensor([float("nan"), 0.0])
    weight = model.weight.detach().numpy().copy()
    scaler.step(opt)
    scaler.update()
    np.testing.assert_array_equal(model.weight.detach().numpy(), weight)
    assert scaler.get_scale() == 2.0


def test_scale_grows_after_growth_interval_clean_steps() -> None:
    model, opt, scaler = _setup("cpu", init_scale=8.0, growth_interval=3, growth_factor=4.0)
    scales = []
    for blow_up in (False, False, False, False, True, False, False, False):
        _step(model, opt, scaler, "cpu", blow_up)
        scales.append(scaler.get_scale())
    # grows on the 3rd clean step; the skip halves it and restarts the count
    assert scales == [8.0, 8.0, 32.0, 32.0, 16.0, 16.0, 16.0, 64.0]
    assert scaler.state_dict()["_growth_tracker"] == 0


def test_scale_never_grows_to_infinity() -> None:
    p = nn.Parameter(en.zeros(2))
    opt, scaler = optim.SGD([p], lr=0.1), GradScaler("cpu", init_scale=2.0**126,
                                                      growth_interval=1)
    for _ in range(2):
        scaler.scale(p.sum()).backward()  # zero inputs: finite gradients at any scale
        scaler.step(opt)
        scaler.update()
    assert scaler.get_scale() == 2.0**127  # 2**128 overflows float32: kept


def test_unscale_before_clipping_gives_the_unscaled_gradients(backend: str) -> None:
    model, opt, scaler = _setup(backend, init_scale=1024.0)
    _loss(model, backend).backward()
    reference = [p.grad.cpu().numpy().copy() for p in model.parameters()]
    ref_norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in reference))
    opt.zero_grad()
    scaler.scale(_loss(model, backend)).backward()
    scaler.unscale_(opt)
    for p, g in zip(model.parameters(), reference, strict=True):
        np.testing.assert_array_equal(p.grad.cpu().numpy(), g)  # a power-of-two scale: exact
    norm = clip_grad_norm_(model.parameters(), 0.5)
    assert float(norm) == pytest.approx(ref_norm, rel=1e-6)
    clipped = [p.grad.cpu().numpy() for p in model.parameters()]
    for c, g in zip(clipped, reference, strict=True):
        np.testing.assert_allclose(c, g * (0.5 / (ref_norm + 1e-6)), rtol=1e-5)
    weight = model.weight.detach().cpu().numpy().copy()
    scaler.step(opt)  # not unscaled a second time: Adam sees the clipped gradients
    scaler.update()
    assert not np.array_equal(model.weight.detach().cpu().numpy(), weight)
    assert scaler.get_scale() == 1024.0


def test_stage_errors() -> None:
    model, opt, scaler = _setup("cpu")
    with pytest.raises(RuntimeError, match="Attempted unscale_ but _scale is None"):
        scaler.unscale_(opt)
    scaler.scale(_loss(model, "cpu")).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called on this "
                                           "optimizer since the last update\\(\\)"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step\\(\\)"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called since the last"):
        scaler.step(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="No inf checks were recorded prior to update"):
        scaler.update()
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: None)
    opt.zero_grad()
    with pytest.raises(RuntimeError, match="No inf checks were recorded for this optimizer"):
        scaler.step(opt)


def test_float16_gradients_are_refused() -> None:
    p = nn.Parameter(en.ones(2).half())
    opt = optim.SGD([p], lr=0.1)
    scaler = GradScaler("cpu")
    with np.errstate(over="ignore"):  # 65536 is beyond float16: the cast gives inf
        scaler.scale(p.float().sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients."):
        scaler.step(opt)


def test_disabled_scaler_passes_through() -> None:
    model, opt, _ = _setup("cpu")
    scaler = GradScaler("cpu", enabled=False)
    loss = _loss(model, "cpu")
    assert scaler.scale(loss) is loss
    loss.backward()
    weight = model.weight.detach().numpy().copy()
    scaler.step(opt)
    scaler.update()
    assert not np.array_equal(model.weight.detach().numpy(), weight)
    assert (scaler.get_scale(), scaler.is_enabled(), scaler.state_dict()) == (1.0, False, {})


def test_scale_takes_iterables_and_refuses_other_things() -> None:
    scaler = GradScaler("cpu", init_scale=4.0)
    a, b = en.ones(2), en.full((1,), 2.0)
    out = scaler.scale([a, (b,)])
    assert isinstance(out, list) and isinstance(out[1], tuple)
    assert out[0].tolist() == [4.0, 4.0] and out[1][0].tolist() == [8.0]
    assert [t.tolist() for t in scaler.scale(iter([a]))] == [[4.0, 4.0]]
    with pytest.raises(ValueError, match="outputs must be a Tensor or an iterable of Tensors"):
        scaler.scale(3.0)


def test_factors_and_bad_arguments() -> None:
    scaler = GradScaler("cpu")
    scaler.set_growth_factor(3.0)
    scaler.set_backoff_factor(0.25)
    scaler.set_growth_interval(7)
    assert (scaler.get_growth_factor(), scaler.get_backoff_factor(),
            scaler.get_growth_interval()) == (3.0, 0.25, 7)
    with pytest.raises(ValueError, match="The growth factor must be > 1.0"):
        GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(ValueError, match="The backoff factor must be < 1.0"):
        scaler.set_backoff_factor(1.5)
    with pytest.raises(ValueError, match="growth_interval must be an integer >= 1, got 0"):
        GradScaler("cpu", growth_interval=0)
    with pytest.raises(ValueError, match="init_scale must be a positive finite number"):
        GradScaler("cpu", init_scale=float("inf"))
    scaler.scale(en.ones(1))
    scaler.update(new_scale=16.0)
    assert scaler.get_scale() == 16.0
    scaler.update(new_scale=en.tensor([2.0]))
    assert scaler.get_scale() == 2.0
    with pytest.raises(ValueError, match="new_scale should be a float or a 1-element"):
        scaler.update(new_scale=en.ones(2))


def test_state_dict_round_trip() -> None:
    model, opt, scaler = _setup("cpu", init_scale=64.0, growth_interval=4)
    for blow_up in (True, False, False):
        _step(model, opt, scaler, "cpu", blow_up)
    state = scaler.state_dict()
    assert state == {"scale": 32.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                     "growth_interval": 4, "_growth_tracker": 2}
    restored = GradScaler("cpu")
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    model2, opt2, _ = _setup("cpu")
    model2.load_state_dict(model.state_dict())
    opt2.load_state_dict(opt.state_dict())
    for blow_up in (False, False, True, False):  # both continue identically
        _step(model, opt, scaler, "cpu", blow_up)
        _step(model2, opt2, restored, "cpu", blow_up)
        assert restored.state_dict() == scaler.state_dict()
    np.testing.assert_array_equal(model2.weight.detach().numpy(), model.weight.detach().numpy())
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        GradScaler("cpu").load_state_dict({})
    with pytest.raises(ValueError, match="'scale' must be a number > 0 .* got 'big'"):
        GradScaler("cpu").load_state_dict({**state, "scale": "big"})
    GradScaler("cpu", enabled=False).load_state_dict({})  # a disabled scaler ignores it


def test_same_scales_and_skips_as_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3).astype(np.float32) for _ in range(14)]
    for i in (2, 3, 9):
        grads[i][1] = np.inf if i != 3 else np.nan
    ours_p = nn.Parameter(en.zeros(3))
    theirs_p = torch.nn.Parameter(torch.zeros(3))
    ours_opt, theirs_opt = optim.SGD([ours_p], lr=0.1), torch.optim.SGD([theirs_p], lr=0.1)
    kwargs = {"init_scale": 2.0**10, "growth_interval": 3, "growth_factor": 2.0,
              "backoff_factor": 0.25}
    ours, theirs = GradScaler("cpu", **kwargs), torch.amp.GradScaler("cpu", **kwargs)
    for g in grads:
        ours.scale(en.ones(1))  # the scale is applied by the caller's backward; here by hand
        theirs.scale(torch.ones(1))
        ours_p.grad = en.tensor(g * ours.get_scale())
        theirs_p.grad = torch.tensor(g * theirs.get_scale())
        before = ours_p.detach().numpy().copy(), theirs_p.detach().numpy().copy()
        ours.step(ours_opt)
        theirs.step(theirs_opt)
        ours.update()
        theirs.update()
        assert ours.get_scale() == theirs.get_scale()
        # the same gradients unscaled, and the same steps skipped
        np.testing.assert_array_equal(ours_p.grad.numpy(), theirs_p.grad.numpy())
        stepped = (not np.array_equal(ours_p.detach().numpy(), before[0]),
                   not np.array_equal(theirs_p.detach().numpy(), before[1]))
        assert stepped[0] == stepped[1] == bool(np.isfinite(g).all())
    assert ours.state_dict() == theirs.state_dict()
    assert ours.get_scale() == 2.0**10 * 0.25**3 * 2.0**2  # three skips, two growths


def test_scales_float32_cannot_hold_are_refused() -> None:
    """A scale is kept as float32 and unscale_ multiplies by its float32 reciprocal: both must be
    finite and > 0, or every step would be skipped (inf) or the gradients lost (0, 1/0)."""
    state = GradScaler("cpu").state_dict()
    for bad in (0.0, 1e-46, 1e-45, 2e-39, 3.5e38, 1e300, 10**400, math.inf, math.nan, -1.0,
                True, "big"):
        with pytest.raises(ValueError, match="'scale' must be a number > 0 whose float32 value "
                                             "and reciprocal are finite, got "):
            GradScaler("cpu").load_state_dict({**state, "scale": bad})
        with pytest.raises(ValueError, match="init_scale must be a positive finite number"):
            GradScaler("cpu", init_scale=bad)
    for edge in (3e-39, 3.4e38):  # the ends of the usable range are kept
        scaler = GradScaler("cpu")
        scaler.load_state_dict({**state, "scale": edge})
        assert scaler.get_scale() == edge


def test_a_skip_at_an_infinite_scale_is_recorded_as_torch_records_it() -> None:
    """update(new_scale=inf) is allowed (as in PyTorch); the skip it causes does not lower the
    scale, so the per-device record of inf checks is what tells that the step was skipped."""
    torch = pytest.importorskip("torch")
    seen = []
    for lib, scaler in ((en, GradScaler("cpu")), (torch, torch.amp.GradScaler("cpu"))):
        param = lib.nn.Parameter(lib.zeros(2))
        opt = lib.optim.SGD([param], lr=0.1)
        scaler.scale(lib.ones(1))
        scaler.update(new_scale=math.inf)
        param.grad = scaler.scale(lib.ones(2))  # inf: overflowed gradients
        with np.errstate(invalid="ignore"):  # unscaling inf by 1/inf = 0 gives NaN
            scaler.step(opt)
        found = scaler._found_inf_per_device(opt)
        scaler.update()
        seen.append(([str(d) for d in found], [float(v) for v in found.values()],
                     scaler.get_scale(), param.detach().numpy().tolist()))
    assert seen[0] == seen[1] == (["cpu"], [1.0], math.inf, [0.0, 0.0])
