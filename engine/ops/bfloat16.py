"""bfloat16 emulation: values rounded to bfloat16 precision and stored as float32 (NumPy and
CuPy have no bfloat16 array type), for autocast(dtype=engine.bfloat16)."""

from __future__ import annotations

from typing import Any

from engine.backend import get_array_module
from engine.function import Function


def round_to_bfloat16(a: Any) -> Any:
    """float32 array of a's values rounded to the nearest bfloat16 (ties to even), NaN kept."""
    xp = get_array_module(a)
    a = xp.ascontiguousarray(a, dtype=xp.float32)  # a view below needs one element per word
    bits = a.view(xp.uint32)
    # Adding 0x7FFF plus the lowest kept bit, then dropping the low 16 bits, rounds half to even;
    # a carry into the exponent gives the next power of two (or inf), as a true rounding does.
    rounded = (bits + (((bits >> 16) & 1) + 0x7FFF)) & xp.uint32(0xFFFF0000)
    out = rounded.view(xp.float32)
    # A NaN whose payload sits in the low bits would round to inf: keep it NaN.
    return xp.where(xp.isnan(a), a, out)


class RoundBF16(Function):
    """x rounded to bfloat16, as float32; its gradient is rounded too and given in x's dtype."""

    # The gradient of a bfloat16 tensor is bfloat16 in PyTorch: hence the rounding in backward.

    saves_inputs = False

    def forward(self, a: Any) -> Any:
        self.in_dtype = a.dtype
        return round_to_bfloat16(a)

    def backward(self, g: Any) -> Any:
        return round_to_bfloat16(g).astype(self.in_dtype, copy=False)

    def _release(self) -> None:
        # Only a dtype is kept: a cast cached by autocast serves several graphs' backwards.
        pass
