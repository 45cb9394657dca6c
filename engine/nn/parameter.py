"""nn.Parameter: a leaf tensor that a Module registers as a learnable weight."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.tensor import Tensor


class Parameter(Tensor):
    """A tensor that requires grad by default and is registered when assigned to a Module."""

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = Tensor._from_array(np.zeros((0,), dtype=np.float32))
        source = data if isinstance(data, Tensor) else Tensor(data)
        self._init(source._data, source._device)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
