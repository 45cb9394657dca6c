"""engine.backends.cudnn: PyTorch's cuDNN flags, accepted and stored.

No op calls cuDNN: on CuPy, conv2d is im2col windows and a cuBLAS matmul whose backward is
deterministic, so `deterministic` holds whatever it says, and `benchmark` (algorithm search) and
`allow_tf32` have nothing to choose. They are kept so scripts that set them run unchanged, and
are where a cuDNN conv path would read its settings (see engine/backend.py).
"""

from engine import backend

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """True when a GPU is usable (CuPy ships cuDNN bindings with its CUDA builds)."""
    return backend.cuda_available()


def version() -> int | None:
    """None: this engine does not call cuDNN."""
    return None
