"""Tensor's in-place methods (add_, mul_, copy_, fill_, __setitem__) and their autograd rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine import backend
from engine.function import AccumulateGrad
from engine.grad_mode import _GradState, no_grad

if TYPE_CHECKING:
    from engine.tensor import Tensor


class InplaceOps:
    """Mixin: in-place ops overwrite the array, bump the version counter and take a new node."""

    __slots__ = ()

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
        if result.shape != self.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{list(result.shape)}"
            )
        if self._data.flags.writeable if hasattr(self._data, "flags") else True:
            self._data[...] = result._data
        else:
            raise RuntimeError("cannot write in place into an expanded (read-only) tensor")
        self._version += 1
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
        from engine.tensor import Tensor

        src = src if isinstance(src, Tensor) else Tensor(src)
        return self._inplace(
            lambda t: src.to(self._device).to(self.dtype).expand(self.shape), saves_self=False
        )

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with a value in place; the gradient to the old values is zero."""
        if not _GradState.enabled or not self.requires_grad:
            with no_grad():
                self._data[...] = value._data if isinstance(value, InplaceOps) else value
            self._version += 1
            return self
        return self._inplace(lambda t: t * 0 + value, saves_self=False)

    def __setitem__(self, index: Any, value: Any) -> None:
        from engine.ops.movement import IndexPut
        from engine.tensor import Tensor

        idx = self._convert_index(index)
        value = value if isinstance(value, Tensor) else self._wrap(
            backend.array_module(self._device).asarray(value, dtype=self._data.dtype))
        self._inplace(lambda t: IndexPut.apply(t, value.to(self.dtype), index=idx),
                      saves_self=False)
