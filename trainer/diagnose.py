"""Find the first op whose output is not finite, by replaying a step with a per-op check."""

from __future__ import annotations

from typing import Any


def _finite(arr: Any) -> bool:
    from engine.backend import get_array_module

    if getattr(arr, "dtype", None) is None or arr.dtype.kind not in "fc":
        return True
    return bool(get_array_module(arr).isfinite(arr).all())


def first_nonfinite_op(model: Any, images: Any, labels: Any, rng_state: Any) -> str:
    """Replay the forward pass of a step from its RNG state; describe the first bad op."""
    import numpy as np

    import engine
    import engine.function as function
    import engine.nn.functional as F

    found: list[str] = []

    def check(op: type, inputs: Any, kwargs: Any, output: Any) -> None:
        if found or _finite(output._data):
            return
        inputs_ok = all(_finite(t._data) for t in inputs)
        found.append(
            f"the first non-finite output came from op {op.__name__} "
            f"(output shape {tuple(output.shape)}; its inputs were "
            f"{'finite' if inputs_ok else 'already non-finite: the parameters had diverged'})")

    engine.set_rng_state(rng_state)  # the same dropout draws as the failing step
    previous = function.trace_hook
    function.trace_hook = check
    try:
        with engine.no_grad(), np.errstate(all="ignore"):
            F.cross_entropy(model(images), labels)
    except Exception as exc:  # the replay is best effort: report what we have
        found.append(f"the replay failed ({type(exc).__name__}: {exc})")
    finally:
        function.trace_hook = previous
    return found[0] if found else "the replay found no non-finite op output"
