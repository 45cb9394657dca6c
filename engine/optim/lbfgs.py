"""L-BFGS over all parameters as one flat vector, with an optional strong-Wolfe line search."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from engine import backend
from engine.grad_mode import enable_grad
from engine.optim._line_search import strong_wolfe
from engine.optim.optimizer import Optimizer, OptimizerStateError
from engine.tensor import Tensor
from engine.tensor_inplace import mark_written

# The state entries LBFGS keeps between steps, under PyTorch's names.
_CARRIED = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


class LBFGS(Optimizer):
    """Limited-memory BFGS (PyTorch's port of minFunc); step(closure) runs up to max_iter
    iterations. One parameter group only, all parameters on one device."""

    def __init__(self, params: Any, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        self._check_nonnegative(lr=lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params: list[Tensor] = self.param_groups[0]["params"]
        self._numel = sum(p._data.size for p in self._params)

    # ----- the flat view of all parameters -----------------------------------------------------
    def _gather_flat_grad(self) -> Any:
        xp = backend.get_array_module(self._params[0]._data)
        return xp.concatenate([p.grad._data.reshape(-1) if p.grad is not None
                               else xp.zeros(p._data.size, dtype=p._data.dtype)
                               for p in self._params])

    def _add_grad(self, step_size: Any, update: Any) -> None:
        """Parameters += step_size * update (update flat), in place."""
        offset = 0
        for p in self._params:
            n = p._data.size
            chunk = update[offset:offset + n].reshape(p._data.shape)
            self._add_scaled(p._data, chunk, step_size, out=p._data)
            mark_written(p)
            offset += n

    def _set_params(self, arrays: list[Any]) -> None:
        for p, array in zip(self._params, arrays, strict=True):
            p._data[...] = array
            mark_written(p)

    def _evaluate(self, closure: Callable[[], Any]) -> tuple[Any, float, Any]:
        with enable_grad():
            loss = closure()
        return loss, float(loss), self._gather_flat_grad()

    # ----- the step ----------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to max_iter L-BFGS iterations; closure clears grads, recomputes and
        backpropagates the loss, and returns it. Returns the loss before the step."""
        # The flat vectors are made and updated outside the ops: on the parameters' GPU.
        with backend.on_device(self._params[0]._device):
            return self._iterate(closure)

    def _iterate(self, closure: Callable[[], Any]) -> Any:
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search = group["history_size"], group["line_search_fn"]
        if line_search is not None and line_search != "strong_wolfe":
            raise RuntimeError("only 'strong_wolfe' is supported")
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss, loss, flat_grad = self._evaluate(closure)
        xp = backend.get_array_module(flat_grad)
        current_evals = 1
        state["func_evals"] += 1
        if float(xp.abs(flat_grad).max()) <= tol_grad:  # already optimal
            return orig_loss
        carried = {k: _unwrap(state.get(k)) for k in _CARRIED}
        d, t, old_dirs, old_stps = (carried[k] for k in ("d", "t", "old_dirs", "old_stps"))
        ro, h_diag, prev_flat_grad = carried["ro"], carried["H_diag"], carried["prev_flat_grad"]
        prev_loss = carried["prev_loss"]
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:  # steepest descent, empty curvature history
                d = xp.negative(flat_grad)
                old_dirs, old_stps, ro, h_diag = [], [], [], 1
            else:
                y = xp.subtract(flat_grad, prev_flat_grad)
                s = xp.multiply(d, t)
                ys = xp.dot(y, s)
                if ys > 1e-10:  # keep the pair only if the curvature condition holds
                    if len(old_dirs) == history_size:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / xp.dot(y, y)
                d = self._two_loop(state, flat_grad, old_dirs, old_stps, ro, h_diag)
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss
            t = (min(1.0, 1.0 / xp.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr)
            gtd = xp.dot(flat_grad, d)
            if gtd > -tol_change:  # not a descent direction
                break
            if line_search is not None:
                start = [p._data.copy() for p in self._params]

                def objective(step: Any, start: list[Any] = start, d: Any = d) -> tuple:
                    self._add_grad(step, d)
                    _, value, grad = self._evaluate(closure)
                    self._set_params(start)
                    return value, grad

                loss, flat_grad, t, ls_evals = strong_wolfe(
                    objective, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = float(xp.abs(flat_grad).max()) <= tol_grad
            else:
                self._add_grad(t, d)
                ls_evals, opt_cond = 0, False
                if n_iter != max_iter:  # re-evaluate unless this is the last iteration
                    _, loss, flat_grad = self._evaluate(closure)
                    opt_cond = float(xp.abs(flat_grad).max()) <= tol_grad
                    ls_evals = 1
            current_evals += ls_evals
            state["func_evals"] += ls_evals
            if (n_iter == max_iter or current_evals >= max_eval or opt_cond
                    or float(xp.abs(xp.multiply(d, t)).max()) <= tol_change
                    or abs(loss - prev_loss) < tol_change):
                break
        device = self._params[0]._device
        for key, value in zip(_CARRIED, (d, t, old_dirs, old_stps, ro, h_diag, prev_flat_grad,
                                         prev_loss), strict=True):
            state[key] = _wrap(value, device)
        return orig_loss

    def _two_loop(self, state: dict[str, Any], flat_grad: Any, old_dirs: list, old_stps: list,
                  ro: list, h_diag: Any) -> Any:
        """The L-BFGS two-loop recursion: the inverse-Hessian estimate times -flat_grad."""
        xp = backend.get_array_module(flat_grad)
        al = _unwrap(state.get("al")) or [None] * self.param_groups[0]["history_size"]
        q = xp.negative(flat_grad)
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = xp.dot(old_stps[i], q) * ro[i]
            self._add_scaled(q, old_dirs[i], -al[i], out=q)
        r = xp.multiply(q, h_diag)
        for i in range(len(old_dirs)):
            be_i = xp.dot(old_dirs[i], r) * ro[i]
            self._add_scaled(r, old_stps[i], al[i] - be_i, out=r)
        state["al"] = _wrap(al, self._params[0]._device)
        return r

    # ----- state dicts -------------------------------------------------------------------------
    def _load_state_value(self, p: Tensor, index: int, name: str, value: Any) -> Any:
        """LBFGS's state holds flat vectors and lists of them: copied onto p's device."""
        if isinstance(value, list | tuple):
            return [self._load_state_value(p, index, name, v) for v in value]
        if not isinstance(value, Tensor):
            return copy.deepcopy(value)
        if value._data.ndim == 1 and value._data.size != self._numel:
            raise OptimizerStateError(
                f"LBFGS state '{name}' has {value._data.size} values but the parameters have "
                f"{self._numel} in all: the state dict is from another model")
        array = backend.to_device(value._data, p._device)
        return Tensor._from_array(array.astype(p._data.dtype, copy=True), p._device)


def _unwrap(value: Any) -> Any:
    """Raw arrays out of state Tensors (recursing into lists)."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _wrap(value: Any, device: str) -> Any:
    """State Tensors around raw arrays and array scalars (recursing into lists)."""
    if isinstance(value, list):
        return [_wrap(v, device) for v in value]
    if value is None or isinstance(value, int | float | Tensor):
        return value
    return Tensor._from_array(backend.get_array_module(value).asarray(value), device)
