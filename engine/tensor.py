"""Tensor: a NumPy or CuPy array plus what autograd needs (grad, grad_fn, version counter)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import backend, dtypes, function
from engine._device import Device, Size
from engine._printing import tensor_repr
from engine.memory_format import check_memory_format
from engine.ops.movement import ToDevice
from engine.tensor_autograd import AutogradMethods, _check_grad
from engine.tensor_autograd import RemovableHandle as RemovableHandle  # re-exported for nn
from engine.tensor_inplace import InplaceOps
from engine.tensor_ops import TensorOps


def _is_sizes(data: Any, sizes: tuple) -> bool:
    """True for Tensor(n, ...) with ints or Tensor(Size): a shape, not data (PyTorch's form)."""
    if isinstance(data, Size):
        return True
    if type(data) is not int:
        return False
    return all(type(s) is int for s in sizes)


def _is_dtype(arg: Any) -> bool:
    return isinstance(arg, dtypes.dtype | np.dtype) or (isinstance(arg, type)
                                                         and issubclass(arg, np.generic))


def parse_to_args(args: tuple, kwargs: dict) -> tuple[str | None, np.dtype | None]:
    """The (device, NumPy dtype) asked of Tensor.to and Module.to, each None when not given.

    Takes PyTorch's forms: to(device), to(dtype), to(device, dtype), to(tensor) for its device and
    dtype, and device=/dtype= keywords (non_blocking= is accepted and has no effect). A dtype is an
    engine dtype, a NumPy dtype or a NumPy scalar type (np.float16); a device is a string or Device.
    """
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    if kwargs.get("memory_format") is not None:
        check_memory_format(kwargs["memory_format"], "to")
    unknown = kwargs.keys() - {"device", "dtype", "non_blocking", "memory_format"}
    if unknown:
        raise TypeError(f"to() got an unexpected keyword argument '{min(unknown)}'")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg._device, arg._data.dtype
        elif _is_dtype(arg):
            dtype = arg
        else:
            device = arg
    np_dtype = None
    if dtype is not None:
        np_dtype = dtypes.from_numpy_dtype(dtypes.to_numpy_dtype(dtype)).np  # unsupported: raise
    return (backend.normalize_device(device) if device is not None else None), np_dtype


class Tensor(TensorOps, InplaceOps, AutogradMethods):
    """A multi-dimensional array that records operations for automatic differentiation."""

    __slots__ = ("_data", "requires_grad", "_grad", "grad_fn", "_device", "_vc", "_hooks",
                 "_node", "__weakref__")
    __array_priority__ = 1000  # numpy scalars on the left defer to our reflected operators

    def __init__(self, data: Any = (), *sizes: int, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> None:
        if _is_sizes(data, sizes):  # PyTorch's legacy Tensor(2, 3) / Tensor(Size): new storage
            shape = tuple(data) if isinstance(data, Size) else (data, *sizes)
            data = np.zeros(shape, dtype=dtypes.to_numpy_dtype(dtype))
        elif sizes:
            raise TypeError("Tensor() takes data or sizes (ints), got "
                            f"{type(data).__name__} followed by {len(sizes)} more arguments")
        if dtype is None and not isinstance(data, Tensor):
            dtype = dtypes.get_default_dtype()  # torch.Tensor([1, 2]) is a float tensor
        self._fill_from(data, dtype, device, requires_grad)

    @classmethod
    def _from_data(cls, data: Any, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Tensor:
        """A tensor holding a copy of data (engine.tensor's rules: a Python int is a 0-d value)."""
        t = _new(cls)
        t._fill_from(data, dtype, device, requires_grad)
        return t

    def _fill_from(self, data: Any, dtype: Any, device: Any, requires_grad: bool) -> None:
        if isinstance(data, Tensor):
            data = data._data
        np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else None
        source = backend.device_of(data) if hasattr(data, "shape") else "cpu"
        if device is None:  # host data goes to the default device, GPU arrays stay where they are
            device = backend._default_device if source == "cpu" else source
        dev = backend.normalize_device(device)
        if source == "cpu":
            array = np.array(data, dtype=np_dtype or dtypes.infer_numpy_dtype(data))
            if dev != "cpu":
                array = backend.to_device(array, dev)
        else:
            array = backend.to_device(data, dev)
            array = array.astype(np_dtype or array.dtype, copy=array is data)
        self._init(array, dev)
        if requires_grad:
            self.requires_grad_(True)

    def _init(self, array: Any, device: str) -> None:
        self._data = array
        self.requires_grad = False
        self._grad = None
        self.grad_fn = None
        self._device = device
        self._vc = [0]  # version counter, one list shared by a tensor and its views
        self._hooks = ()  # a dict {handle id: hook} once register_hook is called
        self._node = None

    @classmethod
    def _from_array(cls, array: Any, device: str = "cpu") -> Tensor:
        """Wrap a raw array without copying (the fast path every op uses)."""
        t = _new(cls)
        if type(array) is not np.ndarray and (isinstance(array, np.generic)
                                              or not hasattr(array, "shape")):
            # NumPy reductions hand back scalars, which cannot be written in place
            array = np.asarray(array) if device == "cpu" else backend.to_device(array, device)
        t._data = array
        t.requires_grad = False
        t._grad = None
        t.grad_fn = None
        t._device = device
        t._vc = [0]
        t._hooks = ()
        t._node = None
        return t

    @property
    def _version(self) -> int:
        """How many in-place changes the data has had (shared with views, as in PyTorch)."""
        return self._vc[0]

    @_version.setter
    def _version(self, value: int) -> None:
        self._vc[0] = value

    def _wrap(self, array: Any) -> Tensor:
        """A plain Tensor around array on self's device: how methods build results, so a result is
        never a subclass such as Parameter (Function.apply's outputs are not either)."""
        return Tensor._from_array(array, self._device)

    # ----- attributes -------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """The values as a new tensor that shares memory but not autograd: no graph, no grad, and
        in-place changes through it are not seen by version checks (PyTorch's .data)."""
        return Tensor._from_array(self._data, self._device)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data, self._device = value._data, value._device

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by backward (None until one arrives)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            _check_grad(self, value)
        self._grad = value

    @property
    def shape(self) -> Size:
        """The size of each dimension."""
        return Size(self._data.shape)

    @property
    def dtype(self) -> dtypes.dtype:
        """The element type, e.g. engine.float32."""
        return dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> Device:
        """Where the data lives: cpu or cuda:N."""
        return Device._of(self._device)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op."""
        return self.grad_fn is None

    @property
    def is_cuda(self) -> bool:
        """True when the data lives on a GPU."""
        return self._device != "cpu"

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the size of one dimension."""
        return Size(self._data.shape) if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    def numel(self) -> int:
        """Number of elements."""
        return int(self._data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ----- conversion -------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory; a CPU tensor only, as in PyTorch)."""
        if self._device != "cpu":
            raise TypeError(_host_only(self))
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        return self._data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        """The values as (nested) Python lists."""
        return backend.to_numpy(self._data).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                "Boolean value of Tensor with more than one value is ambiguous "
                f"(shape {self.shape})"
            )
        return bool(self.item())

    def __index__(self) -> int:
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._device != "cpu":
            raise TypeError(_host_only(self))
        return self._data if dtype is None else self._data.astype(dtype)

    def detach(self) -> Tensor:
        """A tensor sharing the data (and version counter), cut from the graph."""
        out = Tensor._from_array(self._data, self._device)
        out._vc = self._vc
        return out

    def clone(self, *, memory_format: Any = None) -> Tensor:
        """A copy that stays in the graph (every memory format gives a C-ordered copy)."""
        if memory_format is not None:
            check_memory_format(memory_format, "clone")
        return self * 1 if self.dtype.is_floating_point else Tensor._from_array(self._data.copy(),
                                                                               self._device)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad on a leaf in place."""
        if not self.is_leaf:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self.requires_grad = requires_grad
        return self

    def to(self, *args: Any, copy: bool = False, **kwargs: Any) -> Tensor:
        """Move to a device and/or cast to a dtype: to('cuda'), to(engine.float64), to(other)."""
        dev, np_dtype = parse_to_args(args, kwargs)
        out = self
        if np_dtype is not None and np_dtype != self._data.dtype:
            out = out._cast(np_dtype)
        if dev is not None and dev != self._device:
            out = out._to_device(dev)
        return out.clone() if copy and out is self else out

    def _to_device(self, device: str) -> Tensor:
        return ToDevice.apply(self, device=device)

    def cpu(self) -> Tensor:
        """A copy on the CPU (self when already there)."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Tensor:
        """A copy on a GPU (self when already there)."""
        return self.to(backend.cuda_device(device))

    def float(self) -> Tensor:
        """Cast to float32."""
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        """Cast to float64."""
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        """Cast to float16."""
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        """Cast to int64."""
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        """Cast to int32."""
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        """Cast to bool."""
        return self.to(dtypes.bool_)

    def type(self, dtype: Any = None, non_blocking: bool = False) -> Any:
        """With no argument, the legacy type name ('engine.FloatTensor'); else cast to dtype
        (an engine dtype, a legacy type such as engine.LongTensor, or its name)."""
        from engine import _legacy_types  # cycle: it builds tensors through engine.creation

        if dtype is None:
            return _legacy_types.type_name(self)
        return self.to(_legacy_types.dtype_of_type(dtype))

    def is_floating_point(self) -> bool:
        """True for float dtypes."""
        return self._data.dtype.kind == "f"

    # ----- printing ---------------------------------------------------------------------
    def __repr__(self) -> str:
        return tensor_repr(self)

    def __str__(self) -> str:
        return self.__repr__()  # dispatches, so nn.Parameter prints "Parameter containing:"

    def __format__(self, format_spec: str) -> str:
        # As PyTorch: a 0-d tensor formats as its Python number, anything else as object does.
        if self._data.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    def __hash__(self) -> int:
        return id(self)


def _host_only(t: Tensor) -> str:
    """PyTorch's refusal to view a GPU tensor as a NumPy array."""
    return (f"can't convert {t._device} device type tensor to numpy. Use Tensor.cpu() to copy "
            "the tensor to host memory first.")


_new = object.__new__
function.register_tensor_type(Tensor)
