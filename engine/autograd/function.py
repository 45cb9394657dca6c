"""The public autograd.Function: custom ops written with Tensors and a ctx, as in PyTorch.

A subclass defines `forward(ctx, *args)` and `backward(ctx, *grad_outputs)` as staticmethods (or
forward(*args) plus setup_context(ctx, inputs, output)); `MyFn.apply(*args)` runs forward without
recording a graph and gives the outputs one node, `MyFnBackward`, whose backward calls the user's.
The primitive ops (engine.function.Function, on raw arrays) stay separate and faster.
"""

from __future__ import annotations

from typing import Any

from engine import backend
from engine import function as _prim
from engine._legacy_types import type_name
from engine.grad_mode import _GradState, no_grad
from engine.tensor import Tensor


class FunctionCtx:
    """What forward and backward share: saved tensors, needs_input_grad, and any attribute."""

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (or None) for backward; they are checked against in-place changes."""
        for i, t in enumerate(tensors):
            if t is not None and not hasattr(t, "_vc"):
                raise TypeError(f"save_for_backward can only save variables, but argument {i} "
                                f"is of type {type(t).__name__}")
        self._saved = tuple([(t, t._version) if t is not None else (None, 0) for t in tensors])

    def save_for_forward(self, *tensors: Any) -> None:
        """Accepted for PyTorch's API; forward-mode AD is not supported."""

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """The tensors given to save_for_backward, as they were (PyTorch's errors otherwise)."""
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward."
            )
        for i, (t, version) in enumerate(self._saved):
            if t is not None and t._version != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: [{type_name(t)} {list(t.shape)}], which is saved "
                    f"tensor {i} of {self.name()}, is at version {t._version}; expected version "
                    f"{version} instead."
                )
        return tuple([t for t, _ in self._saved])

    def mark_non_differentiable(self, *tensors: Any) -> None:
        """These outputs get no gradient (requires_grad=False); backward still sees a grad."""
        self._non_differentiable = {id(t) for t in tensors}

    def mark_dirty(self, *tensors: Any) -> None:
        """These inputs were changed in place by forward (they become the outputs' tensors)."""
        self._dirty = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward gets None (not zeros) for outputs that received no gradient."""
        self._materialize = bool(value)


class _Slots(dict):
    """Gradients of a multi-output node by output index; sums like an array in the backward."""

    def __add__(self, other: _Slots) -> _Slots:
        merged = _Slots(self)
        for i, g in other.items():
            merged[i] = merged[i] + g if i in merged else g
        return merged


class _OutputEdge(_prim.Function):
    """Graph node of output i of a multi-output custom Function: hands its gradient up."""

    saves_inputs = False

    def __init__(self, parent: Any, index: int) -> None:
        self._next = (parent,)
        self.needs_input_grad = (True,)
        self._output_index = index
        self._parent = parent

    def backward(self, grad: Any) -> Any:
        return _Slots({self._output_index: grad})

    def name(self) -> str:
        return self._parent.name()

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        return self._parent.next_functions

    def _release(self) -> None:
        self._freed = True


class BackwardCFunction(FunctionCtx, _prim.Function):
    """The node (and the ctx) of one call of a custom Function."""

    saves_inputs = False
    _fn: Any = None  # the user's Function subclass
    _saved: tuple[Any, ...] = ()
    _non_differentiable: set[int] = frozenset()  # type: ignore[assignment]
    _dirty: set[int] = frozenset()  # type: ignore[assignment]
    _materialize = True

    def backward(self, grad: Any) -> Any:  # type: ignore[override]
        """Call the user's backward with Tensors; return raw arrays, one per forward argument."""
        wrap = _prim._wrap
        slots = grad if type(grad) is _Slots else {0: grad}
        grads = []
        for i, (shape, dtype, device) in enumerate(self._out_meta):
            g = slots.get(i)
            if g is None and self._materialize:
                g = backend.array_module(device).zeros(shape, dtype=dtype)
            grads.append(None if g is None else wrap(g, device))
        result = self._fn.backward(self, *grads)
        if type(result) is not tuple:
            result = (result,)
        expected = len(self._inputs_meta)
        if len(result) != expected:
            if len(result) > expected and all(r is None for r in result[expected:]):
                result = result[:expected]
            else:
                raise RuntimeError(f"function {self.name()} returned an incorrect number of "
                                   f"gradients (expected {expected}, got {len(result)})")
        return tuple([self._grad_array(i, r) for i, r in enumerate(result)])

    def _grad_array(self, i: int, g: Any) -> Any:
        meta = self._inputs_meta[i]
        if g is None:
            return None
        if meta is None:
            raise RuntimeError(f"function {self.name()} returned a gradient different than None at "
                               f"position {i + 1}, but the corresponding forward input was not a "
                               "Variable")
        if not self.needs_input_grad[i]:
            return None
        array = g._data if hasattr(g, "_data") else g
        if tuple(array.shape) != meta:
            if int(array.size) != _numel(meta):
                raise RuntimeError(f"Function {self.name()} returned an invalid gradient at index "
                                   f"{i} - got {list(array.shape)} but expected shape compatible "
                                   f"with {list(meta)}")
            array = array.reshape(meta)
        return array

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """One (node, index) pair per Tensor argument of forward, as PyTorch."""
        pairs = _prim.Function.next_functions.fget(self)  # type: ignore[attr-defined]
        return tuple([p for p, m in zip(pairs, self._inputs_meta, strict=True) if m is not None])

    def _release(self) -> None:
        self._saved = ()
        self._freed = True

    def name(self) -> str:
        return type(self).__name__


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class _FunctionMeta(type):
    """Gives each Function subclass its node class, named f'{name}Backward' as in PyTorch."""

    def __init__(cls, name: str, bases: tuple, namespace: dict) -> None:
        super().__init__(name, bases, namespace)
        cls._backward_cls = type(f"{name}Backward", (BackwardCFunction,), {"_fn": cls})
        # the node of each output of a multi-output call: same name, so type(grad_fn) reads alike
        cls._edge_cls = type(f"{name}Backward", (_OutputEdge,), {})


class Function(metaclass=_FunctionMeta):
    """Base of custom differentiable ops: define forward and backward staticmethods, call apply."""

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        """Compute the outputs from the inputs (Tensors and any other values)."""
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> Any:
        """Optional: fill ctx from the inputs and output when forward takes no ctx."""
        return _SETUP_NOT_DEFINED

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        """Gradients for each forward input (None for non-tensors and inputs needing none)."""
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward and, when grad mode is on and an input requires grad, record the node."""
        ctx = cls._backward_cls.__new__(cls._backward_cls)
        needs = tuple([isinstance(a, Tensor) and a.requires_grad for a in args])
        ctx.needs_input_grad = needs
        record = _GradState.enabled and True in needs
        if record:  # before forward: a dirty input gets a new grad_fn below
            ctx._next = tuple([a._grad_node() if n else None
                               for a, n in zip(args, needs, strict=True)])
        with no_grad():
            if cls.setup_context is Function.setup_context:
                outputs = cls.forward(ctx, *args, **kwargs)
            else:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
        if not record:
            return outputs
        single = not isinstance(outputs, tuple)
        outs = [outputs] if single else list(outputs)
        return _connect(ctx, args, outs, single)


_SETUP_NOT_DEFINED = object()


def _connect(ctx: Any, args: tuple, outs: list, single: bool) -> Any:
    """Give the tensor outputs ctx as grad_fn (an edge node per output when there are several)."""
    inputs = {id(a) for a in args if isinstance(a, Tensor)}
    ctx._inputs_meta = tuple([tuple(a.shape) if isinstance(a, Tensor) else None for a in args])
    tensor_outs = [i for i, o in enumerate(outs) if isinstance(o, Tensor)]
    ctx._out_meta = tuple([(outs[i].shape, outs[i]._data.dtype, outs[i]._device)
                           for i in tensor_outs])
    for slot, i in enumerate(tensor_outs):
        out = original = outs[i]
        if id(out) in ctx._dirty:
            if out.is_leaf and out.requires_grad:
                raise RuntimeError("a leaf Variable that requires grad has been used in an "
                                   "in-place operation.")
        elif id(out) in inputs:
            out = outs[i] = out.detach()  # an input returned as is: a new tensor, as PyTorch
        if id(original) in ctx._non_differentiable or out._data.dtype.kind != "f":
            continue
        out.requires_grad = True
        out.grad_fn = ctx if len(tensor_outs) == 1 else ctx._fn._edge_cls(ctx, slot)
    if ctx._saved:
        # A saved output is kept as an alias of its data and version counter, not the tensor
        # itself: out -> grad_fn -> ctx -> out would be a reference cycle holding the arrays.
        produced = {id(o) for o in outs if isinstance(o, Tensor)}
        ctx._saved = tuple([(t.detach(), v) if id(t) in produced and t.grad_fn is not None
                            else (t, v) for t, v in ctx._saved])
    return outs[0] if single else tuple(outs)


class InplaceFunction(Function):
    """PyTorch's base for custom in-place Functions; the same protocol here."""


class NestedIOFunction(Function):
    """Accepted for PyTorch's API; the same protocol as Function here."""


def once_differentiable(fn: Any) -> Any:
    """Decorator for backward that must not be differentiated again (always true here)."""
    return fn
