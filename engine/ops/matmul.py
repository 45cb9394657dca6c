"""Matrix product with NumPy's matmul semantics (1-D, 2-D, batched, broadcast batch), einsum."""

from __future__ import annotations

import string
from typing import Any

from engine.backend import get_array_module
from engine.function import Function
from engine.ops.util import unbroadcast


def check_matmul_shapes(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    """Raise PyTorch-style errors that quote both shapes."""
    if not a_shape or not b_shape:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {len(a_shape)}D "
            f"and {len(b_shape)}D"
        )
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if a_shape[-1] != inner_b:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_fmt(a_shape)} and {_fmt(b_shape)})"
        )


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


class MatMul(Function):
    def forward(self, a: Any, b: Any) -> Any:
        check_matmul_shapes(a.shape, b.shape)
        self.a, self.b = a, b
        return a @ b

    def backward(self, g: Any) -> tuple:
        a, b = self.a, self.b
        # Lift 1-D operands to matrices so one formula covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # Restore the dims matmul dropped: the trailing one of a 1-D b first, then a 1-D a's.
        g2 = g[..., None] if b.ndim == 1 else g
        g2 = g2[..., None, :] if a.ndim == 1 else g2
        ga = gb = None
        # Reshape only when needed: a view would cost a copy when stored in .grad.
        if self.needs_input_grad[0]:
            ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape)
            ga = ga if a.ndim > 1 else ga.reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape)
            gb = gb if b.ndim > 1 else gb.reshape(b.shape)
        return ga, gb


def parse_einsum(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Operand and output subscripts with '...' spelled out as letters (right-aligned, as in
    broadcasting) and the implicit output (letters seen once, sorted) made explicit."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        more = "more" if len(shapes) > len(terms) else "fewer"
        raise RuntimeError(f"einsum(): {more} operands were provided than specified in the "
                           "equation")
    used = {c for c in eq if c.isalpha()}
    spare = [c for c in string.ascii_letters if c not in used]
    widths = [len(s) - (len(t) - 3) for t, s in zip(terms, shapes, strict=True) if "..." in t]
    ellipsis = "".join(spare[:max(widths, default=0)])
    expanded = []
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            width = len(shape) - (len(term) - 3)
            term = term.replace("...", ellipsis[len(ellipsis) - width:] if width else "")
        if len(term) != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(term)}) "
                               f"does not match the number of dimensions ({len(shape)}) for "
                               "operand and no ellipsis was given")
        expanded.append(term)
    if arrow:
        out = rhs.replace("...", ellipsis)
    else:
        letters = "".join(t for t in terms).replace("...", "")
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return expanded, out


class Einsum(Function):
    """Einstein summation; each operand's gradient is one more einsum of the output gradient
    with the other operands."""

    def forward(self, *arrays: Any, equation: str) -> Any:
        xp = get_array_module(*arrays)
        self.arrays = arrays
        self.terms, self.out = parse_einsum(equation, [a.shape for a in arrays])
        spec = ",".join(self.terms) + "->" + self.out
        self.spec = spec
        return xp.einsum(spec, *arrays, optimize=len(arrays) > 2)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        grads = []
        for i, needed in enumerate(self.needs_input_grad):
            if not needed:
                grads.append(None)
                continue
            term, a = self.terms[i], self.arrays[i]
            if len(set(term)) != len(term):
                raise NotImplementedError("einsum backward with a repeated subscript in one "
                                          f"operand ('{term}') is not supported")
            others = [t for j, t in enumerate(self.terms) if j != i]
            reachable = set(self.out).union(*others)
            target = "".join(c for c in term if c in reachable)
            spec = ",".join([self.out, *others]) + "->" + target
            operands = [g] + [x for j, x in enumerate(self.arrays) if j != i]
            grad = xp.einsum(spec, *operands, optimize=len(operands) > 2)
            # letters only this operand has were summed away: every element gets the same grad
            for d, c in enumerate(term):
                if c not in reachable:
                    grad = xp.expand_dims(grad, d)
            stretched = tuple(d for d in range(a.ndim) if a.shape[d] == 1 and grad.shape[d] != 1)
            if stretched:
                grad = grad.sum(axis=stretched, keepdims=True)
            out = xp.empty(a.shape, dtype=g.dtype)
            out[...] = grad
            grads.append(out)
        return tuple(grads)
