"""engine: tensors with automatic differentiation on NumPy (CPU) and CuPy (GPU), PyTorch-style."""

from __future__ import annotations

import builtins
import importlib
import math
from typing import Any

import numpy as _np

from engine import math_forms as _math_forms
from engine._device import Size
from engine._flags import (
    are_deterministic_algorithms_enabled,
    get_float32_matmul_precision,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    use_deterministic_algorithms,
)
from engine._heap import retain_freed_memory as _retain_freed_memory
from engine._legacy_types import (
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
)
from engine._printing import set_printoptions
from engine.autograd import GradcheckError
from engine.backend import get_default_device, get_num_threads, set_default_device, set_num_threads
from engine.creation import (
    arange,
    as_tensor,
    cat,
    concat,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    maximum,
    minimum,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    stack,
    tensor,
    tril_indices,
    triu_indices,
    where,
    zeros,
    zeros_like,
)
from engine.dtypes import (
    bfloat16,
    bool_,
    double,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    uint8,
)
from engine.errors import CheckpointError, ConfigError, DataError, EngineError, ExportError
from engine.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from engine.math_forms import (
    addmm,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    bmm,
    cdist,
    clone,
    column_stack,
    dstack,
    einsum,
    hstack,
    meshgrid,
    mm,
    norm,
    row_stack,
    std_mean,
    var_mean,
    vstack,
)
from engine.memory_format import (
    channels_last,
    channels_last_3d,
    contiguous_format,
    memory_format,
    preserve_format,
)
from engine.random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from engine.sampling import bernoulli, multinomial, normal
from engine.tensor import Device, Tensor

__version__ = "0.1.0"

_retain_freed_memory()  # so that training steps reuse heap pages: see engine._heap
pi, e, inf, nan = math.pi, math.e, math.inf, math.nan  # torch.pi and friends: Python floats

bool = bool_  # noqa: A001 - PyTorch's name: engine.bool
device = Device
float = float32  # noqa: A001 - PyTorch alias
int = int32  # noqa: A001 - PyTorch alias

# Submodules load on first use so `import engine` (and the CLI's --help) stays fast.
_LAZY = {"nn", "optim", "cuda", "autograd", "export", "serialization", "backend", "random",
         "utils", "linalg", "accelerator", "backends", "onnx", "amp", "distributed"}
# torch.autocast and friends: engine.amp's names at the top level.
_AMP_NAMES = {"autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype",
              "is_autocast_available"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"engine.{name}")
    if name in _AMP_NAMES:
        return getattr(importlib.import_module("engine.amp"), name)
    if name in ("save", "load"):
        return getattr(importlib.import_module("engine.serialization"), name)
    raise AttributeError(f"module 'engine' has no attribute '{name}'")


def _unary(method: str) -> Any:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return getattr(input, method)(*args, **kwargs)

    fn.__name__ = method
    fn.__doc__ = f"engine.{method}(t, ...) is t.{method}(...)."
    return fn


# Function forms of Tensor methods: engine.exp(x), engine.sum(x, dim=1), ...
_FUNCTION_FORMS = ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "clamp",
                   "clip", "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "var",
                   "std", "logsumexp", "reshape", "flatten", "transpose", "permute", "unsqueeze",
                   "squeeze", "matmul", "softmax", "log_softmax", "square", "neg", "pow", "add",
                   "sub", "mul", "div", "eq", "ne", "lt", "le", "gt", "ge", "numel", "masked_fill",
                   "t", "all", "any", "floor_divide", "remainder")
# Further math, splits, sorting, indexing, scans, logic.
_MORE_FUNCTION_FORMS = (
    "log1p", "expm1", "log2", "log10", "exp2", "rsqrt", "reciprocal", "sinh", "cosh", "tan", "asin",
    "acos", "atan", "arcsin", "arccos", "arctan", "erf", "frac", "sign", "sgn", "floor", "ceil",
    "trunc", "fix", "round", "clamp_min", "clamp_max", "atan2", "arctan2", "hypot", "lerp",
    "addcmul", "addcdiv", "xlogy", "mv", "dot", "outer", "dist", "chunk", "split", "tensor_split",
    "unbind", "narrow", "select", "sort", "argsort", "msort", "topk", "gather", "take_along_dim",
    "scatter", "scatter_add", "index_select", "masked_select", "nonzero", "argwhere",
    "count_nonzero", "flip", "fliplr", "flipud", "roll", "tril", "triu", "cumsum", "cumprod",
    "prod", "isnan", "isinf", "isposinf", "isneginf", "isfinite", "isclose", "equal",
    "nan_to_num", "logical_and", "logical_or", "logical_xor", "logical_not", "diagonal", "diag",
    "repeat_interleave", "erfinv", "logaddexp", "trace", "kthvalue", "median", "mode", "unique",
    "bincount", "searchsorted", "index_add", "index_fill", "index_copy", "movedim", "moveaxis",
    "swapaxes", "swapdims", "rot90", "index_put", "scatter_reduce", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_not", "absolute", "fmod", "nansum", "nanmean", "tile",
)
for _name in _FUNCTION_FORMS:
    globals()[_name] = _unary(_name)
for _name in _MORE_FUNCTION_FORMS:
    globals()[_name] = _unary(_name)
del _name
# The forms that take out= replace the plain ones made above.
add, sub, mul, div, matmul = (_math_forms.add, _math_forms.sub, _math_forms.mul, _math_forms.div,
                              _math_forms.matmul)


def bucketize(input: Any, boundaries: Tensor, *, right: builtins.bool = False) -> Tensor:  # noqa: A002
    """Index of the bucket of boundaries each value falls in (searchsorted on boundaries)."""
    return boundaries.searchsorted(input, right=right)


def is_floating_point(input: Tensor) -> builtins.bool:  # noqa: A002
    """True when input has a float dtype."""
    return input.is_floating_point()


def is_tensor(obj: Any) -> builtins.bool:
    """True for engine tensors."""
    return isinstance(obj, Tensor)


def allclose(a: Tensor, b: Tensor, rtol: builtins.float = 1e-5,
             atol: builtins.float = 1e-8) -> builtins.bool:
    """True when a and b are elementwise close."""
    return _np.allclose(a.detach().cpu().numpy(), b.detach().cpu().numpy(), rtol=rtol,
                        atol=atol)


# What `from engine import *` binds. engine.float, engine.int and engine.bool stay attributes only,
# so a star import never shadows the builtins.
__all__ = [
    # tensors and devices
    "Tensor", "Device", "device", "is_tensor", "allclose",
    # factories
    "arange", "as_tensor", "cat", "concat", "empty", "from_numpy", "full", "full_like", "linspace",
    "maximum", "minimum", "ones", "ones_like", "rand", "randint", "randn", "randperm", "stack",
    "tensor", "where", "zeros", "zeros_like",
    "empty_like", "eye", "rand_like", "randn_like", "randint_like", "logspace", "tril_indices",
    "triu_indices", "bernoulli", "multinomial", "normal",
    # matrix products, norms, stacking, memory formats (add/sub/mul/div/matmul take out=)
    "mm", "bmm", "addmm", "norm", "clone", "einsum", "meshgrid", "cdist", "var_mean", "std_mean",
    "atleast_1d", "atleast_2d", "atleast_3d", "hstack", "vstack", "row_stack", "dstack",
    "column_stack", "bucketize",
    "memory_format", "contiguous_format", "preserve_format", "channels_last", "channels_last_3d",
    # dtypes
    "dtype", "float32", "float64", "float16", "double", "half", "int64", "int32", "int16", "int8",
    "long", "uint8", "bool_", "bfloat16",
    # autograd mode, randomness, files
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "manual_seed", "seed", "get_rng_state", "set_rng_state", "save", "load",
    "Generator", "default_generator", "initial_seed",
    # devices, defaults, legacy types, printing
    "Size", "set_default_device", "get_default_device", "set_default_dtype", "get_default_dtype",
    "get_num_threads", "set_num_threads", "set_printoptions", "inference_mode",
    "is_inference_mode_enabled", "is_floating_point", "FloatTensor", "DoubleTensor", "HalfTensor",
    "LongTensor", "IntTensor", "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor",
    "set_float32_matmul_precision", "get_float32_matmul_precision", "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
    # errors
    "EngineError", "CheckpointError", "ConfigError", "DataError", "ExportError", "GradcheckError",
    *_FUNCTION_FORMS,
    *_MORE_FUNCTION_FORMS,
]
