"""Tensor's in-place methods (add_, mul_, sqrt_, ..., copy_, fill_, random fills, __setitem__) and
their autograd rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend
from engine import random as _random
from engine.function import AccumulateGrad
from engine.grad_mode import _GradState, no_grad
from engine.ops.movement import IndexPut

if TYPE_CHECKING:
    from engine.tensor import Tensor


def mark_written(*tensors: Tensor | None) -> None:
    """Record a raw in-place write to each tensor's array (None is skipped).

    Every write into a tensor's array outside the ops (optimizer steps, nn.init, running
    statistics, load_state_dict, out=) goes through here: the version counter it bumps, shared
    with the tensor's views, is what backward checks to refuse values saved before the write.
    """
    for t in tensors:
        if t is not None:
            t._vc[0] += 1


def maybe_inplace(input: Tensor, inplace: bool, compute: Callable[[Tensor], Tensor],  # noqa: A002
                  saves_input: bool = True) -> Tensor:
    """compute(input), or with inplace=True its result written into input and input returned
    (PyTorch's inplace= on activations and dropout); saves_input: compute's backward reads
    its input's values, so the old values are kept for it."""
    return input._inplace(compute, saves_self=saves_input) if inplace else compute(input)


class InplaceOps:
    """Mixin: in-place ops overwrite the array, bump the version counter and take a new node."""

    __slots__ = ()

    @backend.runs_on_device  # compute and the write below run on self's GPU
    def _inplace(self, compute: Callable[[Tensor], Tensor], saves_self: bool = True) -> Tensor:
        """Write compute(self) into self's array; with grad on, self takes the new graph node."""
        if _GradState.enabled and self.requires_grad:
            if self.grad_fn is None:
                raise RuntimeError(
                    "a leaf Variable that requires grad is being used in an in-place operation."
                )
            if self.grad_fn._view:
                # Its base would keep a stale graph: PyTorch rewrites it, this engine refuses.
                if type(self.grad_fn._next[0]) is AccumulateGrad:
                    raise RuntimeError("a view of a leaf Variable that requires grad is being "
                                       "used in an in-place operation.")
                raise RuntimeError(
                    f"in-place operation on a view ({type(self.grad_fn).__name__}) of a tensor "
                    "that requires grad is not supported: use the out-of-place op "
                    "(y = y.add(1)) or call .clone() on the view first"
                )
        if _GradState.enabled:
            # The op must see the old values even after we overwrite them below.
            old = self._data.copy() if saves_self else self._data
            alias = self._wrap(old)
            alias.requires_grad, alias.grad_fn, alias._node = (self.requires_grad, self.grad_fn,
                                                               self._node)
            result = compute(alias)
        else:
            result = compute(self)
        if result._data.dtype != self._data.dtype and not _can_cast(result._data.dtype,
                                                                    self._data.dtype):
            from engine.tensor_math import torch_type_name  # cycle: tensor_math -> tensor

            raise RuntimeError(f"result type {torch_type_name(result)} can't be cast to the "
                               f"desired output type {torch_type_name(self)}")
        if result.shape != self.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{list(result.shape)}"
            )
        if backend.is_writeable(self._data):
            self._data[...] = result._data
        else:
            raise RuntimeError("cannot write in place into an expanded (read-only) tensor")
        mark_written(self)
        if result.requires_grad:
            self.requires_grad, self.grad_fn = True, result.grad_fn
        return self

    def add_(self, other: Any, *, alpha: float = 1) -> Tensor:
        """self += alpha * other."""
        return self._inplace(lambda t: t.add(other, alpha=alpha), saves_self=False)

    def sub_(self, other: Any, *, alpha: float = 1) -> Tensor:
        """self -= alpha * other."""
        return self._inplace(lambda t: t.sub(other, alpha=alpha), saves_self=False)

    def mul_(self, other: Any) -> Tensor:
        """self *= other."""
        return self._inplace(lambda t: t * other)

    def div_(self, other: Any) -> Tensor:
        """self /= other."""
        return self._inplace(lambda t: t / other)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Clamp in place."""
        return self._inplace(lambda t: t.clamp(min, max))

    def copy_(self, src: Any) -> Tensor:
        """Copy src's values (broadcast, cast, moved) into self."""
        from engine.tensor import Tensor  # cycle: Tensor is built from this mixin

        src = src if isinstance(src, Tensor) else Tensor(src)
        return self._inplace(
            lambda t: src.to(self._device).to(self.dtype).expand(self.shape), saves_self=False
        )

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with a value in place; the gradient to the old values is zero."""
        return self._overwrite(value._data if isinstance(value, InplaceOps) else value)

    @backend.runs_on_device
    def _overwrite(self, values: Any) -> Tensor:
        """Write values (an array or number) over self; the old values get a zero gradient."""
        if not _GradState.enabled or not self.requires_grad:
            with no_grad():
                self._data[...] = values
            mark_written(self)
            return self
        new = values if not hasattr(values, "shape") else self._wrap(values)
        return self._inplace(lambda t: t * 0 + new, saves_self=False)

    # ----- random fills (drawn on the CPU from the global generator, like engine.rand) -----
    def _random_fill(self, array: Any) -> Tensor:
        array = array.astype(self._data.dtype, copy=False)
        return self._overwrite(array if self._device == "cpu" else
                               backend.to_device(array, self._device))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with samples of N(mean, std**2)."""
        return self._random_fill(_random.generator().normal(mean, std, self.shape))

    def uniform_(self, from_: float = 0.0, to: float = 1.0, **kwargs: Any) -> Tensor:
        """Fill with samples of U[from, to) (PyTorch's keyword `from` is accepted too)."""
        low = kwargs.pop("from", from_)
        if kwargs:
            raise TypeError(f"uniform_() got an unexpected keyword argument '{min(kwargs)}'")
        return self._random_fill(_random.generator().uniform(low, to, self.shape))

    def bernoulli_(self, p: Any = 0.5) -> Tensor:
        """Fill with 1 with probability p (a number or a tensor of probabilities), else 0."""
        probs = backend.to_numpy(p._data) if isinstance(p, InplaceOps) else p
        return self._random_fill(_random.generator().random(self.shape) < probs)

    def exponential_(self, lambd: float = 1.0) -> Tensor:
        """Fill with samples of the exponential distribution of rate lambd."""
        return self._random_fill(_random.generator().exponential(1.0 / lambd, self.shape))

    def log_normal_(self, mean: float = 1.0, std: float = 2.0) -> Tensor:
        """Fill with exp of N(mean, std**2) samples."""
        return self._random_fill(np.exp(_random.generator().normal(mean, std,
                                                                           self.shape)))

    def bernoulli(self, p: float | None = None) -> Tensor:
        """1 with probability self (or p) elementwise, else 0."""
        from engine.sampling import bernoulli  # cycle: sampling imports tensor

        return bernoulli(self, p)

    def multinomial(self, num_samples: int, replacement: bool = False) -> Tensor:
        """Category indices drawn with the weights in each row of self."""
        from engine.sampling import multinomial  # cycle: sampling imports tensor

        return multinomial(self, num_samples, replacement)

    def random_(self, *bounds: int) -> Tensor:
        """Fill with integers from [from, to) for random_(from, to), [0, to) for random_(to), or
        [0, 2**mantissa] (floats) / the dtype's non-negative range (integers) for random_()."""
        if len(bounds) > 2:
            raise TypeError(f"random_() takes at most 2 arguments ({len(bounds)} given)")
        if len(bounds) == 2:
            low, high = bounds
        elif len(bounds) == 1:
            low, high = 0, bounds[0]
        else:
            dtype = self._data.dtype
            low = 0
            if dtype.kind == "f":
                high = 2 ** (np.finfo(dtype).nmant + 1) + 1
            else:
                high = 2 if dtype.kind == "b" else int(np.iinfo(dtype).max) + 1
        return self._random_fill(_random.generator().integers(low, high, self.shape))

    @backend.runs_on_device
    def __setitem__(self, index: Any, value: Any) -> None:
        from engine.tensor import Tensor  # cycle: Tensor is built from this mixin

        idx = self._convert_index(index)
        value = value if isinstance(value, Tensor) else self._wrap(
            backend.array_module(self._device).asarray(value, dtype=self._data.dtype))
        self._inplace(lambda t: IndexPut.apply(t, value.to(self.dtype), index=idx),
                      saves_self=False)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """Write value where mask is True."""
        return self._inplace(lambda t: t.masked_fill(mask, value), saves_self=False)

    def scatter_(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Tensor:
        """In-place scatter."""
        return self._inplace(lambda t: t.scatter(dim, index, src, value=value, reduce=reduce),
                             saves_self=False)

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Tensor:
        """In-place scatter_add."""
        return self._inplace(lambda t: t.scatter_add(dim, index, src), saves_self=False)

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
        """self += value * tensor1 * tensor2."""
        return self._inplace(lambda t: t.addcmul(tensor1, tensor2, value=value),
                             saves_self=False)

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
        """self += value * tensor1 / tensor2."""
        return self._inplace(lambda t: t.addcdiv(tensor1, tensor2, value=value),
                             saves_self=False)

    def addmm_(self, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Tensor:
        """self = beta * self + alpha * (mat1 @ mat2)."""
        return self._inplace(lambda t: t.addmm(mat1, mat2, beta=beta, alpha=alpha))

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        """self += weight * (end - self)."""
        return self._inplace(lambda t: t.lerp(end, weight))


def _can_cast(source: Any, target: Any) -> bool:
    """PyTorch's rule for writing a result into a tensor: no float into an integer tensor and
    nothing but bool into a bool tensor."""
    if source.kind == "f" and target.kind in "biu":
        return False
    return not (target.kind == "b" and source.kind != "b")


def _inplace_method(name: str, keeps_input: bool) -> Callable[..., Tensor]:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return self._inplace(lambda t: getattr(t, name)(*args, **kwargs), saves_self=keeps_input)

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f"In-place {name}: self = self.{name}(...)."
    return method


# name -> whether the op keeps its input for backward (then the old values must be copied first)
_INPLACE_FORMS = {
    "sqrt": False, "exp": False, "log": True, "abs": True, "neg": False, "relu": False,
    "sigmoid": False, "tanh": False, "sin": True, "cos": True, "square": True, "pow": True,
    "log1p": True, "expm1": False, "log2": True, "log10": True, "exp2": False, "rsqrt": False,
    "reciprocal": False, "sinh": True, "cosh": True, "tan": False, "asin": True, "acos": True,
    "atan": True, "arcsin": True, "arccos": True, "arctan": True, "erf": True, "frac": False,
    "sign": False, "sgn": False, "floor": False, "ceil": False, "trunc": False, "fix": False,
    "round": False, "clamp_min": False, "clamp_max": False, "clip": False, "atan2": True,
    "hypot": True, "tril": False, "triu": False, "floor_divide": True, "remainder": True,
    "erfinv": False, "index_add": False, "index_fill": False, "index_copy": False,
    "nan_to_num": False, "index_put": False, "logical_and": False, "logical_or": False,
    "logical_xor": False, "logical_not": False, "bitwise_and": False, "bitwise_or": False,
    "bitwise_xor": False, "bitwise_not": False, "scatter_reduce": False,
}
for _name, _keeps in _INPLACE_FORMS.items():
    setattr(InplaceOps, f"{_name}_", _inplace_method(_name, _keeps))
del _name, _keeps
