"""Module containers: Sequential, ModuleList, ModuleDict (parameter ones: container_params)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.nn.activation import ReLU
from engine.nn.conv import Conv2d
from engine.nn.linear import Linear, linear_then_relu
from engine.nn.module import Module
from engine.nn.pooling import conv_relu_pool, relu_then_max_pool


def _fused(first: Module, second: Module, input: Any) -> Any:  # noqa: A002
    """second(first(input)) as one fused op, or None where the pair does not fuse."""
    if type(first) is Linear:
        return linear_then_relu(first, second, input)
    return relu_then_max_pool(first, second, input)


def _index(idx: int, size: int, kind: str) -> int:
    if not -size <= idx < size:
        raise IndexError(f"index {idx} is out of range for {kind} of length {size}")
    return idx % size


def _renumber(modules: dict[str, Module | None], items: list[Module | None]) -> None:
    """Re-register items under "0", "1", ...: indices stay contiguous, as in PyTorch."""
    modules.clear()
    for i, m in enumerate(items):
        modules[str(i)] = m


class Sequential(Module):
    """Modules called in order, each on the previous one's output."""

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:  # noqa: A002
        """Feed input through every module in turn. A Conv2d, ReLU, MaxPool2d run, a Linear then
        ReLU, and a ReLU then MaxPool2d, run as one fused op where that gives the same values and
        gradients (see pooling.conv_relu_pool, linear.linear_then_relu and
        pooling.relu_then_max_pool)."""
        modules = list(self._modules.values())
        i, count = 0, len(modules)
        while i < count:
            module = modules[i]
            fused = None
            if i + 2 < count and type(module) is Conv2d:
                fused = conv_relu_pool(module, modules[i + 1], modules[i + 2], input)
                taken = 3
            elif i + 1 < count and (type(module) is Linear or type(module) is ReLU):
                fused, taken = _fused(module, modules[i + 1], input), 2
            if fused is None:
                input, taken = module(input), 1  # noqa: A001
            else:
                input = fused  # noqa: A001
            i += taken
        return input

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(idx, len(self), "Sequential")]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx: int | slice) -> None:
        items = list(self._modules.values())
        del items[idx if isinstance(idx, slice) else _index(idx, len(items), "Sequential")]
        _renumber(self._modules, items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def pop(self, key: int | slice) -> Any:
        """Remove the module(s) at key and return them."""
        value = self[key]
        del self[key]
        return value

    def append(self, module: Module) -> Sequential:
        """Add a module at the end."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        """Append each module."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert a module before index (negative counts from the end, as in list.insert)."""
        items = list(self._modules.values())
        if not -len(items) <= index <= len(items):
            raise IndexError(f"Index out of range: {index}")
        items.insert(index, module)
        _renumber(self._modules, items)
        return self


class ModuleList(Module):
    """A list of submodules, registered under "0", "1", ..."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx: int | slice) -> None:
        items = list(self._modules.values())
        del items[idx]
        _renumber(self._modules, items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add a module at the end."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append each module."""
        for m in modules:
            self.append(m)
        return self

    def pop(self, key: int | slice) -> Any:
        """Remove the module(s) at key and return them."""
        value = self[key]
        del self[key]
        return value

    def insert(self, index: int, module: Module) -> None:
        """Insert a module before index."""
        items = list(self._modules.values())
        items.insert(index, module)
        _renumber(self._modules, items)


class ModuleDict(Module):
    """An ordered dict of submodules."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
                 ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        """Names."""
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        """(name, module) pairs."""
        return self._modules.items()

    def values(self) -> Iterable[Module]:
        """Modules."""
        return self._modules.values()

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove key and return its module."""
        return self._modules.pop(key)

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add modules from a mapping or (name, module) pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module
