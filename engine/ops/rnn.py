"""Fused recurrent layers: one op runs a whole sequence (one layer, one direction) on raw arrays.

The input projection x @ W_ih.T + b_ih of every time step is one GEMM done before the op (by the
linear op), so each op takes it precomputed as `xproj` (T, B, gates * H), time-major, or
(B, T, gates * H) with `batch_first=True` (then the outputs are batch-first too). Forward
loops over time with the hidden GEMM and the gate math; backward runs backpropagation through
time on the arrays it saved and gives W_hh's gradient as one GEMM over all steps. One graph node
per layer and direction instead of ~15 small ops per step.
Gate order and equations are PyTorch's (LSTM i, f, g, o; GRU r, z, n with n = tanh(W_in x + b_in +
r * (W_hn h + b_hn))). `reverse=True` runs the sequence backwards (a bidirectional layer's second
direction) and writes each step's output at its own time position.
"""

from __future__ import annotations

from typing import Any

from engine.backend import get_array_module
from engine.function import Function


def _sigmoid_(xp: Any, x: Any) -> None:
    """In-place sigmoid of a (possibly strided) view, through tanh: 0.5 + 0.5 * tanh(x / 2) cannot
    overflow for large |x| and needs one transcendental per element."""
    x *= 0.5
    xp.tanh(x, out=x)
    x *= 0.5
    x += 0.5


def _swap(array: Any, axis: int, batch_first: bool) -> Any:
    """A view with the time and batch axes exchanged when batch_first (no copy either way)."""
    return array.swapaxes(axis, axis + 1) if batch_first else array


def _steps(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


def _previous_hidden(xp: Any, hidden: Any, h0: Any, reverse: bool) -> Any:
    """(T, B, H) hidden state each step started from: h0, then the outputs shifted by one step."""
    prev = xp.empty_like(hidden)
    if reverse:
        prev[:-1], prev[-1] = hidden[1:], h0
    else:
        prev[1:], prev[0] = hidden[:-1], h0
    return prev


def _hidden_grads(xp: Any, d_gates: Any, prev: Any, w_hh: Any, needs: tuple, first: int) -> tuple:
    """Gradients of W_hh (one GEMM over all steps) and of b_hh from the hidden-side gate grads."""
    flat = d_gates.reshape(-1, d_gates.shape[-1])
    gw = flat.T @ prev.reshape(-1, prev.shape[-1]) if needs[first] else None
    gb = flat.sum(axis=0) if len(needs) > first + 1 and needs[first + 1] else None
    return gw, gb


def _needed(grads: tuple, needs: tuple) -> tuple:
    """One gradient per input given, None where an input needs none."""
    return tuple([g if need else None for g, need in zip(grads, needs, strict=False)])


class RNNSequence(Function):
    """Elman RNN: h_t = act(xproj_t + h_{t-1} @ W_hh.T + b_hh); inputs (xproj, h0, W_hh[, b_hh]).

    Output (T, B, H): the hidden state of every step.
    """

    saves_output = True  # backward reads the output's buffer: in-place edits must raise

    def forward(self, xproj: Any, h0: Any, w_hh: Any, b_hh: Any = None, *,
                nonlinearity: str = "tanh", reverse: bool = False,
                batch_first: bool = False) -> Any:
        xp = get_array_module(xproj)
        xproj = _swap(xproj, 0, batch_first)
        out = xp.empty(xproj.shape, dtype=xproj.dtype)
        h = h0
        for t in _steps(xproj.shape[0], reverse):
            pre = xproj[t] + h @ w_hh.T
            if b_hh is not None:
                pre += b_hh
            h = xp.tanh(pre, out=out[t]) if nonlinearity == "tanh" else \
                xp.maximum(pre, 0, out=out[t])
        self.h0, self.w_hh, self.out = h0, w_hh, out
        self.relu, self.reverse, self.batch_first = nonlinearity == "relu", reverse, batch_first
        return _swap(out, 0, batch_first)

    def backward(self, grad: Any) -> tuple:
        xp = get_array_module(grad)
        out, w_hh, grad = self.out, self.w_hh, _swap(grad, 0, self.batch_first)
        d_pre = xp.empty_like(out)
        dh = xp.zeros_like(self.h0)
        for t in _steps(out.shape[0], not self.reverse):
            dh = grad[t] + dh
            # out != 0, as ReLU's own backward: a NaN output passes the gradient, as in PyTorch
            d = dh * (out[t] != 0) if self.relu else dh * (1 - out[t] * out[t])
            d_pre[t] = d
            dh = d @ w_hh
        prev = _previous_hidden(xp, out, self.h0, self.reverse)
        gw, gb = _hidden_grads(xp, d_pre, prev, w_hh, self.needs_input_grad, 2)
        d_pre = _swap(d_pre, 0, self.batch_first)
        return _needed((d_pre, dh, gw, gb), self.needs_input_grad)


class LSTMSequence(Function):
    """LSTM; inputs (xproj, h0, c0, W_hh[, b_hh]); output (2, T, B, H): hidden and cell states."""

    saves_output = True  # backward reads the output's buffer: in-place edits must raise

    def forward(self, xproj: Any, h0: Any, c0: Any, w_hh: Any, b_hh: Any = None, *,
                reverse: bool = False, batch_first: bool = False) -> Any:
        xp = get_array_module(xproj)
        xproj = _swap(xproj, 0, batch_first)
        steps, batch, four_h = xproj.shape
        size = four_h // 4
        out = xp.empty((2, steps, batch, size), dtype=xproj.dtype)
        # Activated gates i, f, g, o per step, for backward; filled in place from xproj + b_hh
        # (one time-major copy for all steps) so a step allocates only its hidden GEMM.
        gates = xp.empty(xproj.shape, dtype=xproj.dtype)
        if b_hh is not None:
            xp.add(xproj, b_hh, out=gates)
        else:
            gates[...] = xproj
        tanh_c = xp.empty((steps, batch, size), dtype=xproj.dtype)
        h = h0
        for t in _steps(steps, reverse):
            a = gates[t]
            a += h @ w_hh.T
            _sigmoid_(xp, a[:, :2 * size])
            xp.tanh(a[:, 2 * size:3 * size], out=a[:, 2 * size:3 * size])
            _sigmoid_(xp, a[:, 3 * size:])
            c = xp.multiply(a[:, size:2 * size], _prev(c0, out, t, reverse), out=out[1, t])
            c += a[:, :size] * a[:, 2 * size:3 * size]
            xp.tanh(c, out=tanh_c[t])
            h = xp.multiply(a[:, 3 * size:], tanh_c[t], out=out[0, t])
        self.h0, self.c0, self.w_hh, self.out = h0, c0, w_hh, out
        self.gates, self.tanh_c, self.reverse = gates, tanh_c, reverse
        self.batch_first = batch_first
        return _swap(out, 1, batch_first)

    def backward(self, grad: Any) -> tuple:
        xp = get_array_module(grad)
        grad = _swap(grad, 1, self.batch_first)
        out, gates, tanh_c, w_hh = self.out, self.gates, self.tanh_c, self.w_hh
        size = out.shape[-1]
        d_gates = xp.empty_like(gates)
        dh = xp.zeros_like(self.h0)
        dc = xp.zeros_like(self.c0)
        for t in _steps(out.shape[1], not self.reverse):
            a, tc = gates[t], tanh_c[t]
            i, f = a[:, :size], a[:, size:2 * size]
            g, o = a[:, 2 * size:3 * size], a[:, 3 * size:]
            dh = grad[0, t] + dh
            dc = grad[1, t] + dc + dh * o * (1 - tc * tc)
            d = d_gates[t]
            d[:, :size] = dc * g * i * (1 - i)
            d[:, size:2 * size] = dc * _prev(self.c0, out, t, self.reverse) * f * (1 - f)
            d[:, 2 * size:3 * size] = dc * i * (1 - g * g)
            d[:, 3 * size:] = dh * tc * o * (1 - o)
            dc = dc * f
            dh = d @ w_hh
        prev = _previous_hidden(xp, out[0], self.h0, self.reverse)
        gw, gb = _hidden_grads(xp, d_gates, prev, w_hh, self.needs_input_grad, 3)
        d_gates = _swap(d_gates, 0, self.batch_first)
        return _needed((d_gates, dh, dc, gw, gb), self.needs_input_grad)


def _prev(c0: Any, out: Any, t: int, reverse: bool) -> Any:
    """The cell state step t started from."""
    last = out.shape[1] - 1
    if (t == last) if reverse else (t == 0):
        return c0
    return out[1, t + 1] if reverse else out[1, t - 1]


class GRUSequence(Function):
    """GRU; inputs (xproj, h0, W_hh[, b_hh]); output (T, B, H): the hidden state of every step."""

    saves_output = True  # backward reads the output's buffer: in-place edits must raise

    def forward(self, xproj: Any, h0: Any, w_hh: Any, b_hh: Any = None, *,
                reverse: bool = False, batch_first: bool = False) -> Any:
        xp = get_array_module(xproj)
        xproj = _swap(xproj, 0, batch_first)
        steps, batch, three_h = xproj.shape
        size = three_h // 3
        out = xp.empty((steps, batch, size), dtype=xproj.dtype)
        gates = xp.empty(xproj.shape, dtype=xproj.dtype)  # r, z, n of every step
        hidden_n = xp.empty((steps, batch, size), dtype=xproj.dtype)  # W_hn h + b_hn
        h = h0
        for t in _steps(steps, reverse):
            gh = h @ w_hh.T
            if b_hh is not None:
                gh += b_hh
            a, x = gates[t], xproj[t]
            rz = xp.add(x[:, :2 * size], gh[:, :2 * size], out=a[:, :2 * size])
            _sigmoid_(xp, rz)
            hidden_n[t] = gh[:, 2 * size:]
            n = xp.tanh(x[:, 2 * size:] + a[:, :size] * gh[:, 2 * size:], out=a[:, 2 * size:])
            # h' = (1 - z) * n + z * h, written as n + z * (h - n)
            h = xp.add(n, a[:, size:2 * size] * (h - n), out=out[t])
        self.h0, self.w_hh, self.out = h0, w_hh, out
        self.gates, self.hidden_n, self.reverse = gates, hidden_n, reverse
        self.batch_first = batch_first
        return _swap(out, 0, batch_first)

    def backward(self, grad: Any) -> tuple:
        xp = get_array_module(grad)
        grad = _swap(grad, 0, self.batch_first)
        gates, hidden_n, w_hh = self.gates, self.hidden_n, self.w_hh
        size = hidden_n.shape[-1]
        prev = _previous_hidden(xp, self.out, self.h0, self.reverse)
        d_x = xp.empty_like(gates)
        d_h = xp.empty_like(gates)  # grads of the hidden-side pre-activations W_h* h + b_h*
        dh = xp.zeros_like(self.h0)
        for t in _steps(gates.shape[0], not self.reverse):
            a = gates[t]
            r, z, n = a[:, :size], a[:, size:2 * size], a[:, 2 * size:]
            dh = grad[t] + dh
            dn = dh * (1 - z) * (1 - n * n)
            dx, dhh = d_x[t], d_h[t]
            dx[:, :size] = dn * hidden_n[t] * r * (1 - r)
            dx[:, size:2 * size] = dh * (prev[t] - n) * z * (1 - z)
            dx[:, 2 * size:] = dn
            dhh[:, :2 * size] = dx[:, :2 * size]
            dhh[:, 2 * size:] = dn * r
            dh = dh * z + dhh @ w_hh
        gw, gb = _hidden_grads(xp, d_h, prev, w_hh, self.needs_input_grad, 2)
        d_x = _swap(d_x, 0, self.batch_first)
        return _needed((d_x, dh, gw, gb), self.needs_input_grad)
