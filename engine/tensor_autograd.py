"""Tensor's autograd methods (backward, hooks, retain_grad) and the hook handle they return."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend
from engine.autograd import run_backward
from engine.function import RETAIN_GRAD, AccumulateGrad

if TYPE_CHECKING:
    from engine.tensor import Tensor


class RemovableHandle:
    """Returned by register_hook (and Module's register_*_hook); remove() unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Callable]) -> None:
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        """Unregister the hook (no error when already removed)."""
        self._hooks.pop(self.id, None)


class AutogradMethods:
    """Mixed into Tensor: the graph node, backward and gradient hooks."""

    __slots__ = ()

    def _grad_node(self) -> Any:
        if self.grad_fn is not None:
            return self.grad_fn
        if self._node is None:
            self._node = AccumulateGrad(self)
        return self._node

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Compute the gradient of this tensor w.r.t. graph leaves; they accumulate in .grad."""
        if create_graph:
            raise NotImplementedError("create_graph=True: higher-order gradients are not supported")
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            grad = backend.full(self._device, self.shape, 1, self._data.dtype)
        else:
            grad = gradient._data if isinstance(gradient, AutogradMethods) else backend.to_device(
                np.asarray(gradient, dtype=self._data.dtype), self._device)
            if grad.shape != self.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of {tuple(grad.shape)} and "
                    f"output[0] has a shape of {tuple(self.shape)}."
                )
            if grad.dtype != self._data.dtype:  # PyTorch casts it to the output's dtype too
                grad = grad.astype(self._data.dtype)
        run_backward(self, grad, bool(retain_graph))

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call hook(grad) when this tensor's gradient is computed; it may return a new grad."""
        if not self.requires_grad:
            raise RuntimeError(
                "cannot register a hook on a tensor that doesn't require gradient"
            )
        if self.grad_fn is None:
            if not self._hooks:
                self._hooks = {}
            hooks = self._hooks
        else:
            if not self.grad_fn._pre_hooks:
                self.grad_fn._pre_hooks = {}
            hooks = self.grad_fn._pre_hooks
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def retain_grad(self) -> None:
        """Keep .grad for this non-leaf tensor after backward (once, however often called)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self.retains_grad:  # a leaf keeps its .grad anyway
            return

        def keep(grad: Tensor) -> None:
            # a copy: the incoming array may also flow on to other nodes
            fresh = grad._wrap(grad._data.copy())
            self.grad = fresh if self.grad is None else grad._wrap(self.grad._data + grad._data)

        if not self.grad_fn._pre_hooks:
            self.grad_fn._pre_hooks = {}
        self.grad_fn._pre_hooks[RETAIN_GRAD] = keep  # backprop runs it after the other hooks

    @property
    def retains_grad(self) -> bool:
        """Whether retain_grad() was called on this non-leaf tensor."""
        return self.grad_fn is not None and RETAIN_GRAD in (self.grad_fn._pre_hooks or ())


def _check_grad(t: Tensor, grad: Any) -> None:
    """Refuse a .grad that backward could not accumulate into, with PyTorch's messages."""
    if not isinstance(grad, AutogradMethods):  # every Tensor is one
        raise TypeError("assigned grad expected to be a Tensor or None but got grad of type "
                        f"{type(grad).__name__}")
    if grad._data.dtype != t._data.dtype:
        raise RuntimeError(f"assigned grad has data of a different type ({grad.dtype} for a "
                           f"{t.dtype} tensor)")
    if grad._device != t._device:
        raise RuntimeError("assigned grad has data located on a different device "
                           f"({grad._device} for a tensor on {t._device})")
    if tuple(grad.shape) != tuple(t.shape):
        raise RuntimeError(f"assigned grad has data of a different size ({list(grad.shape)} for "
                           f"a tensor of size {list(t.shape)})")
