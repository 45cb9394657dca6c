"""engine.device and engine.Size: PyTorch's device object and its tuple of dimension sizes."""

from __future__ import annotations

from typing import Any, SupportsIndex

from engine import backend

_TYPES = ("cpu", "cuda")


class Device:
    """A device such as cpu or cuda:0, as torch.device; compares equal to its string."""

    __slots__ = ("type", "index", "_previous")

    def __init__(self, type: Any = None, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, Device):
            type, index = type.type, type.index if index is None else index  # noqa: A001
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type  # noqa: A001 - torch.device(1) is the accelerator's 1
        if not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments: "
                            f"got {type.__class__.__name__}, expected a str or int")
        kind, sep, suffix = type.strip().lower().partition(":")
        if kind not in _TYPES or (sep and not suffix.isdigit()):
            backend.normalize_device(type)  # raises its one-line error for unknown devices
        if sep:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was "
                                   f"passed explicitly: {type}")
            index = int(suffix)
        if index is not None and int(index) < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type = kind
        self.index = None if index is None else int(index)

    @classmethod
    def _of(cls, name: str) -> Device:
        """The Device of a canonical device string ('cpu', 'cuda:0'), built without parsing."""
        device = _CACHE.get(name)
        if device is None:
            device = _CACHE[name] = cls(name)
        return device

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other: object) -> bool:
        # Lenient where PyTorch is strict: device('cuda') equals 'cuda:0', the device it means.
        try:
            return backend.normalize_device(self) == backend.normalize_device(other)
        except ValueError:
            return False

    def __hash__(self) -> int:
        return hash(backend.normalize_device(self))

    def __reduce__(self) -> Any:
        return (Device, (self.type, self.index))

    def __enter__(self) -> Device:
        """`with engine.device('cuda'):` makes it the default device of factories in the block."""
        self._previous = backend.get_default_device()
        backend.set_default_device(self)
        return self

    def __exit__(self, *exc: object) -> None:
        backend.set_default_device(self._previous)


_CACHE: dict[str, Device] = {}


class Size(tuple):
    """The shape of a tensor: a tuple of ints, as torch.Size."""

    __slots__ = ()  # built by tuple's own constructor: Size(array.shape) is one C call

    def __repr__(self) -> str:
        return f"engine.Size({list(self)})"

    __str__ = __repr__

    def __getitem__(self, key: SupportsIndex | slice) -> Any:
        result = tuple.__getitem__(self, key)
        return Size(result) if isinstance(key, slice) else result

    def __add__(self, other: Any) -> Size:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other: Any) -> Size:
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, n: SupportsIndex) -> Size:
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds."""
        total = 1
        for n in self:
            total *= n
        return total

    def __reduce__(self) -> Any:
        return (Size, (tuple(self),))
