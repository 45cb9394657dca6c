"""Model zoo: built-in models (mlp, cnn, lstm) and a registry that takes "package.module:Class"."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from typing import Any

from engine import creation, nn
from engine.errors import ConfigError
from trainer.suggest import did_you_mean

MODELS: dict[str, Callable[..., nn.Module]] = {}

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class decorator: make a model buildable as build_model(name, ...)."""

    def decorate(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS and MODELS[name] is not cls:
            raise ConfigError(f"model name '{name}' is already registered to "
                              f"{MODELS[name].__module__}.{MODELS[name].__qualname__}")
        MODELS[name] = cls
        return cls

    return decorate


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


@register_model("mlp")
class MLP(nn.Module):
    """Flatten, then Linear + activation (+ dropout) per hidden size, then a Linear head."""

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (128,),
                 num_classes: int = 10, activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"unknown activation '{activation}' for mlp: choose one of "
                              f"{', '.join(sorted(_ACTIVATIONS))}")
        hidden = [hidden] if isinstance(hidden, int) else list(hidden)
        # Checked here, not left to Linear: a width of 1.5 or true would silently become 1.
        for key, value in [("in_features", in_features), ("num_classes", num_classes),
                           *(("hidden", size) for size in hidden)]:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"mlp: {key} must hold positive integers, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or \
                not 0 <= dropout < 1:
            raise ConfigError(f"mlp: dropout must be in [0, 1), got {dropout!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Any) -> Any:
        """Logits (N, num_classes) for inputs of any shape (N, ...)."""
        return self.net(x)


@register_model("cnn")
class SmallCNN(nn.Module):
    """conv 16 3x3, ReLU, maxpool 2; conv 32 3x3, ReLU, maxpool 2; Linear ->128, ReLU, ->classes.

    For H x W images the first Linear takes 32 * (H // 4) * (W // 4) features (1568 at 28x28).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1,
                 input_size: int | Sequence[int] = (28, 28)) -> None:
        super().__init__()
        size = [input_size] * 2 if isinstance(input_size, int) else list(input_size)
        if len(size) != 2 or any(isinstance(d, bool) or not isinstance(d, int) or d < 4
                                 for d in size):
            raise ConfigError(f"cnn: input_size must be an integer or [height, width], each at "
                              f"least 4, got {input_size!r}")
        h, w = size
        self.input_shape = (in_channels, h, w)  # (C, H, W) the data setup checks images against
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), 128), nn.ReLU(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: Any) -> Any:
        """Logits (N, num_classes) for (N, in_channels, H, W) images of the input_size."""
        return self.classifier(self.features(x))


@register_model("lstm")
class RowLSTM(nn.Module):
    """Reads an (N, 1, 28, 28) image as 28 steps of 28-pixel rows: LSTM, last hidden -> Linear."""

    def __init__(self, input_size: int = 28, hidden_size: int = 128, num_layers: int = 1,
                 num_classes: int = 10, bidirectional: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        for key, value in (("input_size", input_size), ("hidden_size", hidden_size),
                           ("num_layers", num_layers), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"lstm: {key} must be a positive integer, got {value!r}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"lstm: dropout must be in [0, 1), got {dropout!r}")
        self.input_size = input_size
        self.input_shape = (1, None, input_size)  # rows of input_size pixels, any number of them
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0,
                            bidirectional=bidirectional)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x: Any) -> Any:
        """Logits (N, num_classes) for (N, ..., input_size) inputs, one step per row."""
        rows = x.reshape(x.shape[0], -1, self.input_size)  # (N, 28, 28): batch, time, features
        _, (h_n, _) = self.lstm(rows)
        # The last layer's final state; both directions' when bidirectional.
        last = h_n[-1] if not self.lstm.bidirectional else creation.cat([h_n[-2], h_n[-1]], 1)
        return self.fc(last)


# Announced already: "name file" pairs, and bare names (a lookup naming no file, such as
# build_model's after the config check, stays quiet once the name was announced at all).
_NOTED: set[str] = set()


def resolve(name: str, source: str = "") -> type[nn.Module]:
    """The nn.Module subclass a zoo name or "package.module:Class" names; nothing is called.

    The one lookup of a model name: build_model, trainer.build, the config check
    (trainer.signatures) and export all come through here.

    User code is imported (and announced once on stderr, naming source) only for an import
    path, and the attribute must be a Module subclass: "os:system" is refused, never run.
    """
    if ":" not in name:
        if name in MODELS:
            return MODELS[name]  # type: ignore[return-value]
        hint = did_you_mean(name, list_models())
        hint = f" {hint[0].upper()}{hint[1:]}" if hint else ""  # a sentence of its own here
        raise ConfigError(f"unknown model '{name}': choose one of {', '.join(list_models())}, or "
                          f"give an import path 'package.module:Class'.{hint}")
    module_name, _, attr = name.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    if not module_name or not attr or any(not p.isidentifier() for p in module_name.split(".")) \
            or any(not p.isidentifier() for p in attr.split(".")):
        raise ConfigError(f"model '{name}': an import path must look like 'package.module:Class'")
    noted = f"{name} {source.rpartition(':')[0] or source}" if source else name
    if noted not in _NOTED:
        _NOTED.update((noted, name))
        named_by = f" named by {source}" if source else ""
        print(f"note: importing user model code {name}{named_by}", file=sys.stderr, flush=True)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or an error raised while the module runs
        raise ConfigError(f"model '{name}': cannot import module '{module_name}' "
                          f"({type(exc).__name__}: {exc})") from None
    for part in attr.split("."):
        try:
            target = inspect.getattr_static(target, part)
        except AttributeError:
            raise ConfigError(f"model '{name}': module '{module_name}' has no attribute "
                              f"'{attr}'") from None
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        raise ConfigError(f"model '{name}': '{attr}' is a {type(target).__name__}, not an "
                          "engine.nn.Module subclass; name a Module class")
    return target


def build_model(name_or_import_path: str, **kwargs: Any) -> nn.Module:
    """Build a registered model by name, or a user model from "package.module:Class"."""
    name = name_or_import_path
    factory = resolve(name)
    try:
        model = factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"model '{name}': bad arguments {sorted(kwargs)} ({exc})") from exc
    except ConfigError:
        raise
    except Exception as exc:  # a constructor refusing a value, e.g. hidden: [-5]
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(f"model '{name}': cannot build it with {kwargs} "
                          f"({type(exc).__name__}: {reason})") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model '{name}' built a {type(model).__name__}, not an nn.Module")
    return model
