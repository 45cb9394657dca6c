"""Model, optimizer and scheduler from a validated Config."""

from __future__ import annotations

from typing import Any

from engine.errors import ConfigError
from trainer import signatures
from trainer.loop import monitor_mode


def check_device(device: str) -> None:
    """Raise ConfigError if the device cannot be used here."""
    if device == "cuda":
        import engine

        if not engine.cuda.is_available():
            raise ConfigError("device 'cuda' requested but no GPU/CuPy is available; use "
                              "--device cpu (or device: cpu in the config)")


def build_model(cfg: Any) -> Any:
    """The zoo model named by cfg.model, on cfg.device, initialised from the global generator."""
    from trainer import zoo

    model = zoo.build_model(cfg.model.name, **cfg.model.kwargs)
    return model.to(cfg.device) if cfg.device != "cpu" else model


def build_optimizer(cfg: Any, params: Any) -> Any:
    """The optimizer named by cfg.optimizer over params."""
    cls = signatures.optimizer_class(cfg.optimizer.name)
    decay = {} if cfg.optimizer.weight_decay is None else {
        "weight_decay": cfg.optimizer.weight_decay}
    return cls(params, lr=cfg.optimizer.lr, **decay, **cfg.optimizer.kwargs)


def build_scheduler(cfg: Any, optimizer: Any) -> Any:
    """The lr scheduler named by cfg.scheduler (None for 'none')."""
    cls = signatures.scheduler_class(cfg.scheduler.name)
    if cls is None:
        return None
    kwargs = dict(cfg.scheduler.kwargs)
    if cfg.scheduler.name == "plateau":
        if cfg.scheduler.interval != "epoch":
            raise ConfigError("scheduler.interval: plateau watches a per-epoch metric; use "
                              "interval: epoch")
        kwargs.setdefault("mode", monitor_mode(cfg.train.monitor, cfg.train.mode))
    return cls(optimizer, **kwargs)
