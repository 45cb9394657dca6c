"""engine.backends: PyTorch's backend flags (mps, cudnn) for scripts that read or set them."""

from engine.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
