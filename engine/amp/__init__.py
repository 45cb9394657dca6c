"""engine.amp: mixed precision, as torch.amp (autocast, GradScaler, custom_fwd/custom_bwd).

Inside `autocast(device_type, dtype)`, matmul-type ops (linear, mm/bmm/matmul/@, einsum, conv2d,
prelu, the RNN/LSTM/GRU recurrences) run in the lower precision, and softmax, log_softmax, the
losses, layer/group norm, sum/prod/norms/cumsum, exp/log/pow and friends run in float32 (PyTorch's
CUDA op lists, used for both device types). Ops with float16 and float32 inputs (add, cat, where,
batch_norm) promote to float32; every other op runs in its inputs' dtype. Only tensors on the
region's device type are cast, float64 ones never; casts are autograd nodes, so float32 leaves get
float32 gradients. Within a region each parameter is cast once (cache_enabled).

bfloat16 is emulated: NumPy and CuPy have no bfloat16 array type, so `dtype=engine.bfloat16`
rounds the float16/float32 inputs and the result of each lower-precision op to bfloat16 (round to
nearest even) and stores them as float32 (their gradients are rounded the same way): those values
are bfloat16's. Other ops on them (x * 3, x + y, tanh, ...) compute and keep unrounded float32
results, where PyTorch's would be bfloat16; the next lower-precision op rounds them again. The
memory and speed are float32's. A tensor cannot be made with dtype=engine.bfloat16.

float16 on the CPU is correct but slow (NumPy has no float16 BLAS): use it there for testing.
"""

from __future__ import annotations

from engine.amp.autocast_mode import (
    autocast,
    get_autocast_dtype,
    is_autocast_available,
    is_autocast_enabled,
)
from engine.amp.custom import custom_bwd, custom_fwd
from engine.amp.grad_scaler import GradScaler, OptState

__all__ = ["GradScaler", "OptState", "autocast", "custom_bwd", "custom_fwd", "get_autocast_dtype",
           "is_autocast_available", "is_autocast_enabled"]
