"""engine.nn: modules, layers, losses and initialisers (PyTorch's torch.nn)."""

from engine.nn import functional
from engine.nn.parameter import Parameter

__all__ = ["Parameter", "functional"]
