"""Shared test helpers: one parity check for every differentiable op (teenygrad's helper_test_op).

`check_op` runs an op forward and backward in this engine and compares it with PyTorch (when torch
is importable, fp32 tolerances), with a NumPy reference forward (when given), and ALWAYS with a
float64 central-difference gradient (`engine.autograd.gradcheck`). Layer, loss and conv tests reuse
it: pass a lambda that works on both libraries, or two lambdas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import engine as en

try:  # torch is only an oracle: tests run (with gradcheck and NumPy references) without it
    import torch
except ImportError:  # pragma: no cover - exercised on machines without torch
    torch = None


def lib_of(t: Any) -> Any:
    """The library a tensor belongs to (engine or torch), so one lambda serves both."""
    return en if isinstance(t, en.Tensor) else torch


def make_layout(array: np.ndarray, layout: str) -> np.ndarray:
    """The same values in a non-contiguous layout: 'strided' (every other element of a larger
    buffer) or 'transposed' (a transposed view of a contiguous array); 'contiguous' copies."""
    if layout == "contiguous" or array.ndim == 0:
        return array.copy(order="C")
    if layout == "strided":
        buf = np.zeros(array.shape + (2,), dtype=array.dtype)
        buf[..., 0] = array
        view = buf[..., 0]
    elif layout == "transposed":
        view = np.ascontiguousarray(array.T).T
    else:
        raise ValueError(f"unknown layout {layout!r}: use contiguous, strided or transposed")
    assert np.array_equal(view, array)
    return view


def _inputs(spec: Sequence[Any], low: float, high: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for s in spec:
        if isinstance(s, tuple):
            out.append(np.asarray(rng.uniform(low, high, size=s)))
        else:
            out.append(np.asarray(s))
    return out


def _as_list(out: Any) -> list[Any]:
    return list(out) if isinstance(out, tuple | list) else [out]


def _engine_tensors(arrays: list[np.ndarray], dtype: Any, grads: list[bool], layout: str,
                    device: str) -> list[en.Tensor]:
    tensors = []
    for a, g in zip(arrays, grads, strict=True):
        array = make_layout(a.astype(dtype) if a.dtype.kind == "f" else a, layout)
        t = en.from_numpy(array)  # no copy: keeps the strided layout under test
        if device != "cpu":
            t = t.to(device)
        tensors.append(t.requires_grad_(True) if g else t)
    return tensors


def _close(name: str, ours: Any, ref: Any, atol: float, rtol: float) -> None:
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != reference {ref.shape}"
    np.testing.assert_allclose(ours, ref, atol=atol, rtol=rtol, err_msg=name, equal_nan=True)


def check_op(
    inputs: Sequence[Any],
    engine_fn: Callable[..., Any],
    torch_fn: Callable[..., Any] | None = None,
    numpy_fn: Callable[..., Any] | None = None,
    *,
    requires_grad: Sequence[bool] | None = None,
    low: float = -2.0,
    high: float = 2.0,
    layout: str = "contiguous",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    grad_atol: float = 1e-4,
    grad_rtol: float = 1e-3,
    gradcheck: bool = True,
    gc_eps: float = 1e-6,
    gc_atol: float = 1e-5,
    gc_rtol: float = 1e-3,
    device: str = "cpu",
    seed: int = 0,
) -> list[Any]:
    """Check an op's forward values and every input gradient; return the engine float32 outputs.

    inputs: shapes (tuples, filled with uniform values in [low, high)) or arrays (used as given,
        integer arrays become non-grad tensors). Float inputs run as float32 for the PyTorch
        comparison and as float64 for gradcheck.
    engine_fn: takes engine tensors, returns a tensor or a tuple of tensors.
    torch_fn: the same on torch tensors; defaults to engine_fn (most lambdas work on both).
    numpy_fn: optional NumPy forward on float64 arrays, compared with the engine's float64 output.
    requires_grad: per input; defaults to True for float inputs.
    layout: 'contiguous', 'strided' or 'transposed' (non-contiguous inputs, same values).
    gradcheck: False only for ops without a gradient (argmax) or where central differences
        cannot work; the PyTorch comparison still runs.
    Every floating output requiring grad is seeded with a fixed random gradient (backward with
    `gradient=`), so each input gradient is compared, not just the gradient of a sum.
    """
    arrays = _inputs(inputs, low, high, seed)
    grads = list(requires_grad) if requires_grad is not None else [
        a.dtype.kind == "f" for a in arrays]
    tensors = _engine_tensors(arrays, np.float32, grads, layout, device)
    outs = _as_list(engine_fn(*tensors))
    rng = np.random.default_rng(seed + 1)
    seeds = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    diff = [(o, s) for o, s in zip(outs, seeds, strict=True)
            if o.dtype.is_floating_point and o.requires_grad]
    if diff:
        if len(diff) == 1:
            diff[0][0].backward(en.tensor(diff[0][1], device=device))
        else:
            total = sum((o * en.tensor(s, device=device)).sum() for o, s in diff)
            total.backward()

    if torch is not None:
        t_inputs = [torch.tensor(a.astype(np.float32) if a.dtype.kind == "f" else a,
                                 requires_grad=g) for a, g in zip(arrays, grads, strict=True)]
        t_outs = _as_list((torch_fn or engine_fn)(*t_inputs))
        assert len(t_outs) == len(outs), f"{len(outs)} outputs, torch gives {len(t_outs)}"
        for i, (o, t) in enumerate(zip(outs, t_outs, strict=True)):
            assert o.dtype.name == str(t.dtype).removeprefix("torch."), (
                f"output {i}: dtype {o.dtype.name}, torch gives {t.dtype}")
            _close(f"forward output {i}", o.detach().cpu().numpy(), t.detach().numpy(), atol, rtol)
        t_diff = [(t, s) for t, s in zip(t_outs, seeds, strict=True) if t.requires_grad]
        assert len(t_diff) == len(diff), "outputs requiring grad differ from torch's"
        if t_diff:
            torch.autograd.backward([t for t, _ in t_diff],
                                    [torch.from_numpy(s) for _, s in t_diff])
        for i, (ours, theirs) in enumerate(zip(tensors, t_inputs, strict=True)):
            if not theirs.requires_grad:
                continue
            if theirs.grad is None:
                assert ours.grad is None or not ours.grad.numpy().any(), f"input {i} grad"
                continue
            assert ours.grad is not None, f"input {i}: no gradient, torch has one"
            assert ours.grad.dtype == ours.dtype, f"input {i}: grad dtype {ours.grad.dtype}"
            assert ours.grad.shape == ours.shape, f"input {i}: grad shape {ours.grad.shape}"
            _close(f"grad of input {i}", ours.grad.cpu().numpy(), theirs.grad.numpy(),
                   grad_atol, grad_rtol)
    else:  # without the oracle, at least check that nothing upcast to float64
        for i, o in enumerate(outs):
            assert o.dtype != en.float64, f"output {i} is float64 from float32 inputs"

    t64 = _engine_tensors(arrays, np.float64, grads, layout, device)
    if numpy_fn is not None:
        ref = _as_list(numpy_fn(*[a.astype(np.float64) if a.dtype.kind == "f" else a
                                  for a in arrays]))
        with en.no_grad():
            got = _as_list(engine_fn(*t64))
        for i, (o, r) in enumerate(zip(got, ref, strict=True)):
            _close(f"float64 forward output {i} vs NumPy", o.cpu().numpy(), r, 1e-10, 1e-7)
    if gradcheck and any(grads):
        en.autograd.gradcheck(engine_fn, t64, eps=gc_eps, atol=gc_atol, rtol=gc_rtol)
    return outs


def torch_twin_results(net: Any, twin: Any, x: np.ndarray) -> list[np.ndarray]:
    """twin (the torch module of net's layers) given net's weights and dtype and run on x: its
    output, then the gradients for x and each parameter of sum(out * linspace(-1, 1))."""
    twin = twin.to(torch.float64 if x.dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in net.state_dict().items()})
    t = torch.tensor(x, requires_grad=True)
    out = twin(t)
    weights = np.linspace(-1, 1, out.numel()).reshape(out.shape).astype(x.dtype)
    (out * torch.from_numpy(weights)).sum().backward()
    return [out.detach().numpy(), t.grad.numpy()] + [p.grad.numpy() for p in twin.parameters()]
