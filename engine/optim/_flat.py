"""One optimizer update over a group's small parameters, on flat arrays that hold them all.

An elementwise update (SGD, Adam) costs about a dozen ufunc calls and some Python per parameter,
whatever its size; for biases and small layers that fixed cost is all there is (an MLP step
spends more on its three small tensors than on the arithmetic of their update). FlatGroup keeps
the parameter-shaped state of a group's small parameters (moments, momentum buffers) as views of
one flat array per state name, copies the parameters and gradients into flat arrays, and lets the
optimizer's own per-parameter `_update` run once over them. Every operation is elementwise and the
same ufuncs run in the same order, so the values are bitwise those of the per-parameter loop.

Large parameters stay per parameter: for them the overhead is small beside the arithmetic, and the
copies in and out would cost more than they save. The state dict layout is unchanged: each
parameter's state entries are still its own tensors, views into the flat arrays.
"""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.tensor import Tensor
from engine.tensor_inplace import mark_written

# Parameters up to this many elements are stepped together (a 128-wide bias, a 128x10 head).
SMALL = 16384


class FlatGroup:
    """The flat layout of some parameters of one group (indices `members` of its params)."""

    def __init__(self, params: list[Tensor], members: tuple[int, ...]) -> None:
        chosen = [params[i] for i in members]
        first = chosen[0]._data
        self.xp = backend.get_array_module(first)
        self.members, self.params = members, tuple(chosen)
        self.shapes = tuple(p._data.shape for p in chosen)
        self.dtype, self.device = first.dtype, chosen[0]._device
        bounds = [0]
        for p in chosen:
            bounds.append(bounds[-1] + p._data.size)
        self.slices = tuple(slice(a, b) for a, b in zip(bounds, bounds[1:], strict=False))
        self.size = bounds[-1]
        self.param = Tensor._from_array(self.xp.empty(self.size, first.dtype), self.device)
        self.grad = self.xp.empty(self.size, first.dtype)
        # each member's place in the flat arrays, shaped like it
        self.param_views = [self.param._data[sl].reshape(shape)
                            for sl, shape in zip(self.slices, self.shapes, strict=True)]
        self.grad_views = [self.grad[sl].reshape(shape)
                           for sl, shape in zip(self.slices, self.shapes, strict=True)]
        self.written: list[list[Tensor]] = []  # per member: its state tensors, for versions
        self.flat_names: tuple[str, ...] = ()  # parameter-shaped state, held flat
        self.scalar_names: tuple[str, ...] = ()  # one value per parameter (step counters)
        # (member, name, tensor, view or None): what a later step checks is still in place in
        # the member's current state dict (load_state_dict puts new dicts and tensors there)
        self.links: list[tuple[int, str, Tensor, Any]] = []
        self.state: dict[str, Any] = {}

    @staticmethod
    def members_of(params: list[Tensor]) -> tuple[int, ...]:
        """Indices of the small parameters that have a gradient and match the first one's
        dtype and device; () when fewer than two do."""
        # 0-d parameters are left out: their state could not be told from a step counter
        chosen = [i for i, p in enumerate(params)
                  if 0 < p._data.ndim and p._data.size <= SMALL and p._grad is not None]
        if len(chosen) < 2:
            return ()
        first = params[chosen[0]]
        chosen = [i for i in chosen if params[i]._data.dtype == first._data.dtype
                  and params[i]._device == first._device]
        return tuple(chosen) if len(chosen) > 1 else ()

    def matches(self, params: list[Tensor], states: list[dict[str, Any] | None]) -> bool:
        """Whether the members, their gradients and their state are as this layout left them."""
        if max(self.members) >= len(params):
            return False
        for i, p, shape in zip(self.members, self.params, self.shapes, strict=True):
            q = params[i]
            if q is not p or q._grad is None or q._data.shape != shape or \
                    q._data.dtype != self.dtype:
                return False
        keys = len(self.flat_names) + len(self.scalar_names)
        for s in states:
            if s is None or len(s) != keys:
                return False
        for k, name, tensor, view in self.links:
            if states[k].get(name) is not tensor or (view is not None and tensor._data is not view):
                return False
        return True

    def adopt(self, states: list[dict[str, Any]]) -> bool:
        """Move existing per-parameter state (a loaded state dict) into flat arrays, copying
        the values; False when the members' state differs in kind or shape."""
        keys = list(states[0])
        if any(list(state) != keys for state in states):
            return False
        flat_names = [n for n in keys if type(states[0][n]) is Tensor and states[0][n]._data.ndim]
        for name in keys:
            for state, shape in zip(states, self.shapes, strict=True):
                value = state[name]
                if name in flat_names:
                    if type(value) is not Tensor or value._data.shape != shape or \
                            value._data.dtype != self.dtype or value._device != self.device:
                        return False
                elif not (type(value) is Tensor and value._data.ndim == 0 or
                          isinstance(value, int | float)):
                    return False
        self.flat_names = tuple(flat_names)
        self.scalar_names = tuple(n for n in keys if n not in flat_names)
        # scalars: private copies, refreshed from the members each step
        self.state = {name: Tensor._from_array(v._data.copy(), v._device) if type(v) is Tensor
                      else v for name, v in states[0].items()}
        for name in self.flat_names:
            flat = self.xp.empty(self.size, self.dtype)
            for k, (state, sl, shape) in enumerate(zip(states, self.slices, self.shapes,
                                                       strict=True)):
                tensor = state[name]
                view = flat[sl].reshape(shape)
                view[...] = tensor._data
                tensor._data = view  # the state tensor now lives in the flat array
                self.links.append((k, name, tensor, view))
            self.state[name] = Tensor._from_array(flat, self.device)
        self._link_scalars(states)
        return True

    def share_state(self, states: list[dict[str, Any]]) -> None:
        """After a first update made self.state: give each member its part of it."""
        names = []
        for name, value in self.state.items():
            if type(value) is Tensor and value._data.shape == (self.size,):
                names.append(name)
                for k, (state, sl, shape) in enumerate(zip(states, self.slices, self.shapes,
                                                           strict=True)):
                    view = value._data[sl].reshape(shape)
                    tensor = state[name] = Tensor._from_array(view, self.device)
                    self.links.append((k, name, tensor, view))
            else:
                for state in states:
                    state[name] = Tensor._from_array(value._data.copy(), value._device) \
                        if type(value) is Tensor else value
        self.flat_names = tuple(names)
        self.scalar_names = tuple(n for n in self.state if n not in names)
        self._link_scalars(states)

    def _link_scalars(self, states: list[dict[str, Any]]) -> None:
        """Record the scalar state tensors too (checked by identity), and each member's list of
        state tensors whose versions a step bumps."""
        for k, state in enumerate(states):
            for name in self.scalar_names:
                if type(state[name]) is Tensor:
                    self.links.append((k, name, state[name], None))
        self.written = [[v for v in state.values() if type(v) is Tensor] for state in states]

    def shared_scalars(self, states: list[dict[str, Any]]) -> bool:
        """Load the members' scalar state (step counters) into self.state when every member has
        the same value; False when they differ (the members then step one by one)."""
        for name in self.scalar_names:
            values = [s[name] for s in states]
            first = values[0]
            if type(first) is Tensor:
                value = float(first._data)
                if any(float(v._data) != value for v in values[1:]):
                    return False
                self.state[name]._data[...] = first._data  # the update increments this copy
            else:
                if any(v != first for v in values[1:]):
                    return False
                self.state[name] = first
        return True

    def gather(self) -> None:
        """Copy the members' values and gradients into the flat arrays."""
        for p, pv, gv in zip(self.params, self.param_views, self.grad_views, strict=True):
            pv[...] = p._data
            gv[...] = p._grad._data

    def scatter(self, states: list[dict[str, Any]]) -> None:
        """Write the updated values back into each member, and the scalars into its state."""
        for p, pv in zip(self.params, self.param_views, strict=True):
            p._data[...] = pv
        for name in self.scalar_names:
            value = self.state[name]
            for state in states:
                if type(value) is Tensor:
                    state[name]._data[...] = value._data
                else:
                    state[name] = value


def step_small(opt: Any, index: int, group: dict[str, Any]) -> tuple[int, ...]:
    """Step a group's small parameters with one opt._update over flat arrays; returns the
    indices it stepped (() when there is nothing to gain or their state does not fit)."""
    params = group["params"]
    flat = opt._flat.get(index)
    members = flat.members if flat is not None else ()
    states = [opt.state.get(params[i]) for i in members]
    if flat is None or not flat.matches(params, states):
        members = FlatGroup.members_of(params)
        if not members:
            return ()
        with backend.on_device(params[members[0]]._device):  # CuPy allocates on the current GPU
            return _first_step(opt, index, group, FlatGroup(params, members))
    with backend.on_device(flat.device):
        if not flat.shared_scalars(states):
            return ()
        flat.gather()
        opt._update(flat.param, flat.grad, flat.state, group)
        flat.scatter(states)
    _mark(flat)
    return members


def _first_step(opt: Any, index: int, group: dict[str, Any], flat: FlatGroup) -> tuple[int, ...]:
    """Step with a new flat layout: the members' state is made here or moved into it."""
    params, members = group["params"], flat.members
    states = [opt.state[params[i]] for i in members]
    first = not any(states)  # a first step: the update below creates the state
    if not first and not flat.adopt(states):
        return ()
    opt._flat[index] = flat
    if not first and not flat.shared_scalars(states):
        return ()
    flat.gather()
    opt._update(flat.param, flat.grad, flat.state, group)
    if first:
        flat.share_state(states)
    flat.scatter(states)
    _mark(flat)
    return members


def _mark(flat: FlatGroup) -> None:
    """Bump the versions of the members and their state tensors (written in place)."""
    for p, written in zip(flat.params, flat.written, strict=True):
        mark_written(p, *written)
