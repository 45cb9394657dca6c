"""RNNCell, LSTMCell, GRUCell, and the one-direction runner the sequence layers share.

A cell is a one-step sequence: the same fused ops (engine/ops/rnn.py) with T = 1, so cells and
layers compute exactly the same numbers.
"""

from __future__ import annotations

import math
from typing import Any

from engine import creation
from engine.nn import functional as F
from engine.nn import init
from engine.nn.module import Module
from engine.nn.parameter import Parameter
from engine.ops.rnn import GRUSequence, LSTMSequence, RNNSequence
from engine.tensor import Tensor

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def run_direction(mode: str, x: Tensor, h0: Tensor, c0: Tensor | None, w_ih: Tensor,
                  w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None, reverse: bool = False,
                  batch_first: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer, one direction over x (T, B, F), or (B, T, F): (outputs, h_n, c_n or None)."""
    xproj = F.linear(x, w_ih, b_ih)  # every step's input projection in one GEMM
    bias = () if b_hh is None else (b_hh,)
    last = 0 if reverse else -1
    step = (slice(None), last) if batch_first else (last,)  # index of the final step
    if mode == "LSTM":
        states = LSTMSequence.apply(xproj, h0, c0, w_hh, *bias, reverse=reverse,
                                    batch_first=batch_first)
        return states[0], states[(0, *step)], states[(1, *step)]
    if mode == "GRU":
        out = GRUSequence.apply(xproj, h0, w_hh, *bias, reverse=reverse, batch_first=batch_first)
    else:
        nonlinearity = "tanh" if mode == "RNN_TANH" else "relu"
        out = RNNSequence.apply(xproj, h0, w_hh, *bias, nonlinearity=nonlinearity,
                                reverse=reverse, batch_first=batch_first)
    return out, out[step], None


class RNNCellBase(Module):
    """weight_ih (gates*H, in), weight_hh (gates*H, H), bias_ih, bias_hh; PyTorch's init."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = num_chunks * hidden_size
        self.weight_ih = Parameter(creation.empty(rows, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(creation.empty(rows, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(creation.empty(rows, device=device, dtype=dtype))
            self.bias_hh = Parameter(creation.empty(rows, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text

    def _batched(self, input: Tensor, states: tuple, name: str) -> tuple[Tensor, list, bool]:  # noqa: A002
        """Check dims as PyTorch does; give the input as (1, B, in) and the states as (B, H)."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} "
                               f"expected {self.input_size}")
        out = []
        for state in states:
            if state is None:
                state = creation.zeros(input.shape[0], self.hidden_size, dtype=input.dtype,
                                       device=input._device)
            elif not is_batched:
                state = state.unsqueeze(0)
            if tuple(state.shape) != (input.shape[0], self.hidden_size):
                raise RuntimeError(f"{name}: hidden state has shape {tuple(state.shape)}, "
                                   f"expected {(input.shape[0], self.hidden_size)}")
            out.append(state)
        return input.unsqueeze(0), out, is_batched

    def _step(self, mode: str, x: Tensor, h: Tensor, c: Tensor | None) -> tuple:
        out, h_n, c_n = run_direction(mode, x, h, c, self.weight_ih, self.weight_hh,
                                      self.bias_ih, self.bias_hh)
        return h_n, c_n


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu), PyTorch's torch.nn.RNNCell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        """The next hidden state (B, H), or (H,) for a 1-D input."""
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"RNNCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        x, (h,), is_batched = self._batched(input, (hx,), "RNNCell")
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        h, _ = self._step("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", x, h, None)
        return h if is_batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step with gates i, f, g, o, PyTorch's torch.nn.LSTMCell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor,  # noqa: A002
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """(h', c'), each (B, H), or (H,) for a 1-D input."""
        if hx is not None:
            for index, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(f"LSTMCell: Expected hx[{index}] to be 1D or 2D, got "
                                     f"{value.dim()}D instead")
        x, (h, c), is_batched = self._batched(input, hx if hx is not None else (None, None),
                                              "LSTMCell")
        h, c = self._step("LSTM", x, h, c)
        return (h, c) if is_batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step with gates r, z, n, PyTorch's torch.nn.GRUCell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        """The next hidden state (B, H), or (H,) for a 1-D input."""
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"GRUCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        x, (h,), is_batched = self._batched(input, (hx,), "GRUCell")
        h, _ = self._step("GRU", x, h, None)
        return h if is_batched else h.squeeze(0)
