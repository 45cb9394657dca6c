"""engine.nn.summary: a model's layers, output shapes and parameter counts as a table.

Like torchinfo's / Keras's model.summary: one forward on zeros, in eval mode and without
gradients, with a forward hook on every submodule to record what it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine import random as _random
from engine.creation import zeros
from engine.grad_mode import no_grad
from engine.nn.module import Module
from engine.tensor import Tensor

__all__ = ["LayerInfo", "ModelSummary", "summary"]

_MB = 1024 ** 2


@dataclass
class LayerInfo:
    """One module of the model: where it sits, what it returned, what it owns."""

    name: str  # dotted path from the model ("" for the model itself)
    type: str  # class name
    depth: int  # 0 for the model, 1 for its children, ...
    output_shapes: list[tuple[int, ...]] | None  # one per Tensor returned; None: never called
    params: int  # elements of the parameters this module registers itself (not its children's)
    trainable: int  # of those, the ones with requires_grad


@dataclass
class ModelSummary:
    """What summary() found; str() is the table."""

    layers: list[LayerInfo]
    input_shapes: list[tuple[int, ...]]
    total_params: int
    trainable_params: int
    param_bytes: int
    buffer_bytes: int

    @property
    def non_trainable_params(self) -> int:
        """Parameters with requires_grad False (frozen)."""
        return self.total_params - self.trainable_params

    @property
    def size_mb(self) -> float:
        """Parameters and buffers at their dtype's item size, in MiB."""
        return (self.param_bytes + self.buffer_bytes) / _MB

    def __str__(self) -> str:
        rows = [("Layer", "Type", "Output shape", "Params")]
        for layer in self.layers:
            label = "  " * layer.depth + (layer.name or "(model)")
            rows.append((label, layer.type, _shapes_text(layer.output_shapes),
                         f"{layer.params:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                 for r in rows]
        rule = "-" * max(len(line) for line in lines)
        inputs = ", ".join(str(list(s)) for s in self.input_shapes)
        return "\n".join([
            rule, lines[0], "=" * len(rule), *lines[1:], "=" * len(rule),
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            f"Input shape: {inputs}",
            f"Params size (MB): {self.param_bytes / _MB:.2f}",
            f"Buffers size (MB): {self.buffer_bytes / _MB:.2f}",
            f"Model size (MB): {self.size_mb:.2f}",
            rule,
        ])


def _shapes_text(shapes: list[tuple[int, ...]] | None) -> str:
    if shapes is None:
        return "--"  # not called by this forward
    return ", ".join(str(list(s)) for s in shapes) or "--"


def _tensor_shapes(value: Any) -> list[tuple[int, ...]]:
    """Shapes of every Tensor in a (nested) output: LSTM returns (out, (h, c))."""
    if isinstance(value, Tensor):
        return [tuple(value.shape)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _tensor_shapes(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _tensor_shapes(v)]
    return []


def _input_shapes(input_size: Any, batch_size: int) -> list[tuple[int, ...]]:
    """(batch, *size) for one size, or one per input for a list of sizes."""
    if not isinstance(input_size, Sequence) or not input_size:
        raise ValueError(f"input_size must be a shape like (1, 28, 28) or a list of shapes, "
                         f"got {input_size!r}")
    sizes = list(input_size) if isinstance(input_size[0], Sequence) else [input_size]
    for size in sizes:
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in size):
            raise ValueError(f"input_size {tuple(size)} must hold positive integers")
    return [(batch_size, *map(int, size)) for size in sizes]


def _default_device(model: Module) -> Any:
    for p in model.parameters():
        return p.device
    return None


def summary(model: Module, input_size: Sequence[int] | Sequence[Sequence[int]],
            batch_size: int = 1, device: Any = None, dtype: Any = None) -> ModelSummary:
    """Run model once on zeros of shape (batch_size, *input_size) and tabulate its layers.

    input_size leaves out the batch dimension, e.g. (1, 28, 28); a list of sizes feeds one
    input each. device defaults to the model's first parameter's. The model's training mode,
    its parameters and the global random state are as before afterwards.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    shapes = _input_shapes(input_size, batch_size)
    device = _default_device(model) if device is None else device
    named = list(model.named_modules())
    outputs: dict[int, list[tuple[int, ...]]] = {}

    def record(module: Module, args: Any, output: Any) -> None:
        outputs.setdefault(id(module), _tensor_shapes(output))  # a reused module: its first call

    handles = [m.register_forward_hook(record) for _, m in named]
    was_training, rng = model.training, _random.get_rng_state()
    try:
        model.eval()
        with no_grad():
            model(*[zeros(*s, dtype=dtype, device=device) for s in shapes])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        _random.set_rng_state(rng)  # a custom forward that draws numbers changes nothing
    return _tabulate(model, named, outputs, shapes)


def _tabulate(model: Module, named: list[tuple[str, Module]],
              outputs: dict[int, list[tuple[int, ...]]],
              shapes: list[tuple[int, ...]]) -> ModelSummary:
    seen: set[int] = set()  # a shared parameter counts once, at the first module holding it
    layers = []
    for name, module in named:
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        layers.append(LayerInfo(
            name=name, type=type(module).__name__, depth=name.count(".") + 1 if name else 0,
            output_shapes=outputs.get(id(module)), params=sum(p.numel() for p in own),
            trainable=sum(p.numel() for p in own if p.requires_grad)))
    params = list(model.parameters())
    return ModelSummary(
        layers=layers, input_shapes=shapes,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        buffer_bytes=sum(b.numel() * b.element_size() for b in model.buffers()))
