"""Function: a primitive op with forward and backward on raw arrays, and the graph node it makes."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from engine import backend
from engine.grad_mode import _GradState

if TYPE_CHECKING:
    from engine.tensor import Tensor

# Set by engine.export while tracing: called as hook(op_class, inputs, kwargs, output) per op.
trace_hook: Any = None
# Set by engine.amp while an autocast region is open: hook(op_class, inputs, kwargs) runs the op
# on inputs cast by autocast's op lists and returns its output, or returns None to leave it alone.
autocast_hook: Any = None

# Tensor._from_array, set through register_tensor_type once Tensor exists: this module cannot
# import engine.tensor, since Tensor's methods are built on Function.
_wrap: Any = None


def register_tensor_type(cls: type) -> None:
    """Make cls (engine.tensor.Tensor) the type every op wraps its output array in."""
    global _wrap
    _wrap = cls._from_array

# Attributes that describe the graph; everything else a forward stores is saved data, freed after
# backward unless retain_graph=True.
_STRUCTURE = frozenset(
    {"needs_input_grad", "_next", "_saved_versions", "_out_ref", "_pre_hooks", "_freed",
     "_view"}
)

# The key of a node's pre-hook that keeps .grad for retain_grad(): run after every other hook, so
# .grad is what they made of the gradient (PyTorch runs retains_grad hooks last).
RETAIN_GRAD = "retain_grad"


def device_mismatch(first: str, second: str, where: str) -> RuntimeError:
    """PyTorch's error for operands of one op found on two devices (where: the op's name)."""
    return RuntimeError(
        "Expected all tensors to be on the same device, but found at least two devices, "
        f"{first} and {second}! (in {where})"
    )


class Function:
    """Base of every primitive op; subclasses define forward(*arrays) and backward(grad)."""

    # An in-place change to an input after forward makes backward wrong: check their versions.
    saves_inputs = True
    # How many leading inputs backward reads (None: all); an affine op's bias is not one of them,
    # so PyTorch lets it change in place before backward, and so must we.
    saved_input_count: int | None = None
    # Same for the output (exp, tanh, sigmoid keep their result for backward).
    saves_output = False

    needs_input_grad: tuple[bool, ...]
    # The node below each input (None where it needs no grad). The backward loop reads this plain
    # tuple; next_functions is PyTorch's ((node, output index), ...) view of it.
    _next: tuple[Any, ...]
    # PyTorch's node name where it differs from f"{class name}Backward0" (see name()).
    _torch_name: str | None = None
    # Class-level defaults so the backward loop reads plain attributes instead of getattr(...).
    _saved_versions: tuple[Any, ...] = ()
    _out_ref: Any = None
    _pre_hooks: Any = ()
    _freed = False
    _view = False  # True on a node whose output shares its input's memory
    # Ops whose output may be a view of input 0 (reshape, permute, expand, basic indexing).
    makes_view = False

    def forward(self, *arrays: Any, **kwargs: Any) -> Any:
        """Compute the output array from input arrays."""
        raise NotImplementedError

    def backward(self, grad: Any) -> Any:
        """Return the gradient for each input (a tuple, or one array for a single input)."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, **kwargs: Any) -> Tensor:
        """Run forward on the inputs' arrays and, when grad is on, record the node."""
        if autocast_hook is not None:  # the one check autocast costs an op while it is off
            cast = autocast_hook(cls, inputs, kwargs)
            if cast is not None:
                return cast
        ctx = cls.__new__(cls)
        needs = tuple([t.requires_grad for t in inputs])
        ctx.needs_input_grad = needs
        device = inputs[0]._device
        for t in inputs:
            if t._device != device:
                raise device_mismatch(device, t._device, cls.__name__)
        try:
            if device == "cpu":
                array = ctx.forward(*[t._data for t in inputs], **kwargs)
            else:
                with backend.on_device(device):
                    array = ctx.forward(*[t._data for t in inputs], **kwargs)
        except ValueError as error:
            if "broadcast" not in str(error):
                raise
            shapes = " and ".join(str(tuple(t.shape)) for t in inputs)
            raise RuntimeError(  # PyTorch raises RuntimeError here; say which op and shapes
                f"{cls.__name__}: shapes {shapes} cannot be broadcast together (each dim, "
                "counted from the last, must match or be 1)"
            ) from error
        out = _wrap(array, kwargs.get("device", device) if kwargs else device)
        view = cls.makes_view and _owner(out._data) is _owner(inputs[0]._data)
        if view:
            out._vc = inputs[0]._vc  # in-place changes through either one are seen by both
        if _GradState.enabled and True in needs:
            if view:
                ctx._view = True
            ctx._next = tuple(
                [t._grad_node() if t.requires_grad else None for t in inputs]
            )
            if cls.saves_inputs:
                saved = inputs if cls.saved_input_count is None else \
                    inputs[:cls.saved_input_count]
                ctx._saved_versions = tuple([(t, t._vc[0]) for t in saved])
            if cls.saves_output:
                ctx._out_ref = weakref.ref(out)
            out.requires_grad = True
            out.grad_fn = ctx
        if trace_hook is not None:
            trace_hook(cls, inputs, kwargs, out)
        return out

    def _check_saved(self) -> None:
        """Raise PyTorch's error when backward would use freed or modified saved values."""
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Specify retain_graph=True if you "
                "need to backward through the graph a second time."
            )
        changed = [(t, v) for t, v in self._saved_versions if t._version != v]
        out = self._out_ref() if self._out_ref is not None else None
        if out is not None and out._version != 0:
            changed.append((out, 0))
        if changed:
            t, v = changed[0]
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{t.dtype.name} {list(t.shape)}] is at version {t._version}; "
                f"expected version {v} instead (in {type(self).__name__})"
            )

    def _release(self) -> None:
        """Free saved arrays after backward; a later backward through this node raises."""
        for key in [k for k in self.__dict__ if k not in _STRUCTURE]:
            del self.__dict__[key]
        self._freed = True

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """PyTorch's ((node, output index), ...) per input; (None, 0) for one without grad."""
        return tuple([(node, getattr(node, "_output_index", 0)) for node in self._next])

    def name(self) -> str:
        """PyTorch's node name, e.g. 'MulBackward0', 'MmBackward0'."""
        cls = type(self)
        return cls._torch_name or _TORCH_NAMES.get(cls.__name__) or f"{cls.__name__}Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"


def _owner(array: Any) -> Any:
    """The array that owns the memory a view looks at (the array itself when it owns it)."""
    base = getattr(array, "base", None)
    while base is not None and hasattr(base, "shape"):  # stop at a non-array buffer (bytes, mmap)
        array, base = base, getattr(base, "base", None)
    return array


# PyTorch's names for primitive ops whose class name gives a different one (torch prints the
# node of the ATen function it calls: F.linear -> AddmmBackward0, reshape -> ViewBackward0).
_TORCH_NAMES = {
    "PowScalar": "PowBackward0", "Pow": "PowBackward1", "Clamp": "ClampBackward1",
    "Cast": "ToCopyBackward0", "ToDevice": "ToCopyBackward0", "Linear": "AddmmBackward0",
    "_ClassLoss": "NllLossBackward0", "NLLLoss": "NllLossBackward0",
    "CrossEntropy": "NllLossBackward0",  # log-softmax and NLL: PyTorch's graph ends in NLL
    "BCEWithLogits": "BinaryCrossEntropyWithLogitsBackward0",
    "MatMul": "MmBackward0", "Reshape": "ViewBackward0", "GetItem": "IndexBackward0",
    "Pad": "ConstantPadNdBackward0", "BatchNorm": "NativeBatchNormBackward0",
    "MaxPool2d": "MaxPool2DWithIndicesBackward0", "AvgPool2d": "AvgPool2DBackward0",
    "Conv2d": "ConvolutionBackward0", "Dropout": "NativeDropoutBackward0",
    "AMax": "AmaxBackward0", "TakeAlongDim": "GatherBackward0", "LogSumExp": "LogsumexpBackward0",
}


class AccumulateGrad:
    """Graph node of a leaf tensor: runs its hooks and adds the incoming gradient to .grad."""

    needs_input_grad = ()
    _next = ()
    next_functions = ()

    def __init__(self, leaf: Tensor) -> None:
        self.variable = leaf

    def accumulate(self, grad: Any, owned: bool) -> None:
        """Add grad to the leaf's .grad; copy it first unless this node owns the array."""
        leaf = self.variable
        if leaf._hooks:
            for hook in tuple(leaf._hooks.values()):  # a hook may remove itself
                result = hook(leaf._wrap(grad))
                if result is not None:
                    grad, owned = result._data, False
        if grad.dtype != leaf._data.dtype:
            grad, owned = grad.astype(leaf._data.dtype), True
        if leaf._grad is None:
            # A copy unless the array is ours alone: .grad may be changed in place (zero_, step).
            leaf._grad = leaf._wrap(grad if owned and grad.base is None else grad.copy())
        else:
            leaf._grad._data = leaf._grad._data + grad

    def name(self) -> str:
        """PyTorch's node name."""
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"
