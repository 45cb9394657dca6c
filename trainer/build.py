"""Model, optimizer and scheduler from a validated Config; constructor errors name their key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import ConfigError
from trainer import signatures
from trainer.config import marks_of
from trainer.loop import monitor_mode
from trainer.yaml_source import where


def check_device(device: str) -> None:
    """Raise ConfigError if the device cannot be used here."""
    if device == "cuda":
        import engine

        if not engine.cuda.is_available():
            raise ConfigError("device 'cuda' requested but no GPU/CuPy is available; use "
                              "--device cpu, the override device=cpu, or device: cpu in the "
                              "config")


def check_buildable(cfg: Any) -> None:
    """Build the model, optimizer and scheduler once on CPU and step them on a throwaway copy.

    Called before a run folder exists, so a bad constructor argument (or one the optimizer or
    scheduler only trips over in step()) is a ConfigError naming the key and where it was set,
    never an incomplete run. The global RNG is left as it was.
    """
    import engine

    rng = engine.get_rng_state()
    try:
        _build_model(cfg, "cpu")
        _throwaway_optimizer(cfg)  # its own errors name optimizer keys, not scheduler ones
        _check_interval(cfg)
        _built("scheduler", cfg.scheduler.kwargs, marks_of(cfg),
               lambda kw: _step_once(cfg, _scheduler(cfg, _throwaway_optimizer(cfg), kw)))
    finally:
        engine.set_rng_state(rng)


def build_model(cfg: Any) -> Any:
    """The zoo model named by cfg.model, on cfg.device, initialised from the global generator."""
    return _build_model(cfg, cfg.device)


def build_optimizer(cfg: Any, params: Any) -> Any:
    """The optimizer named by cfg.optimizer over params."""
    params = list(params)
    return _built("optimizer", _optimizer_args(cfg), marks_of(cfg),
                  lambda kw: signatures.optimizer_class(cfg.optimizer.name)(params, **kw))


def build_scheduler(cfg: Any, optimizer: Any) -> Any:
    """The lr scheduler named by cfg.scheduler (None for 'none')."""
    _check_interval(cfg)
    return _built("scheduler", cfg.scheduler.kwargs, marks_of(cfg),
                  lambda kw: _scheduler(cfg, optimizer, kw))


def _build_model(cfg: Any, device: str) -> Any:
    from engine import nn
    from trainer.zoo import resolve

    factory = resolve(cfg.model.name)

    def make(kwargs: dict[str, Any]) -> Any:
        model = factory(**kwargs)
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model '{cfg.model.name}' built a {type(model).__name__}, "
                              "not an nn.Module")
        return model

    model = _built("model", cfg.model.kwargs, marks_of(cfg), make)
    return model.to(device) if device != "cpu" else model


def _optimizer_args(cfg: Any) -> dict[str, Any]:
    decay = {} if cfg.optimizer.weight_decay is None else {
        "weight_decay": cfg.optimizer.weight_decay}
    return {"lr": cfg.optimizer.lr, **decay, **cfg.optimizer.kwargs}


def _throwaway_optimizer(cfg: Any) -> Any:
    """The configured optimizer over one zero parameter, stepped once (catches step-time errors)."""
    import engine

    param = engine.nn.Parameter(engine.zeros(2))
    param.grad = engine.ones(2)

    def make(kwargs: dict[str, Any]) -> Any:
        optimizer = signatures.optimizer_class(cfg.optimizer.name)([param], **kwargs)
        optimizer.step()
        return optimizer

    return _built("optimizer", _optimizer_args(cfg), marks_of(cfg), make)


def _scheduler(cfg: Any, optimizer: Any, kwargs: dict[str, Any]) -> Any:
    cls = signatures.scheduler_class(cfg.scheduler.name)
    if cls is None:
        return None
    kwargs = dict(kwargs)
    if cfg.scheduler.name == "plateau":
        kwargs.setdefault("mode", monitor_mode(cfg.train.monitor, cfg.train.mode))
    return cls(optimizer, **kwargs)


def _check_interval(cfg: Any) -> None:
    if cfg.scheduler.name == "plateau" and cfg.scheduler.interval != "epoch":
        raise ConfigError(f"{where(marks_of(cfg), 'scheduler.interval')}: scheduler.interval: "
                          "plateau watches a per-epoch metric; use interval: epoch")


def _step_once(cfg: Any, scheduler: Any) -> Any:
    if scheduler is not None:
        scheduler.step(0.0) if cfg.scheduler.name == "plateau" else scheduler.step()
    return scheduler


def _built(section: str, kwargs: dict[str, Any], marks: dict[str, str],
           make: Callable[[dict[str, Any]], Any]) -> Any:
    """make(kwargs); any error becomes one ConfigError naming the argument that causes it.

    The culprit is found by retrying without each argument in turn (its default instead): the
    one whose removal fixes the build, else the only one whose removal changes the error.
    This costs extra builds only when the first one already failed.
    """
    try:
        return make(kwargs)
    except Exception as exc:  # a constructor may raise anything for a bad argument
        error = exc
    culprit, suspects = None, []
    for key in kwargs:
        try:
            make({k: v for k, v in kwargs.items() if k != key})
        except Exception as other:  # noqa: BLE001 - compared with the first error below
            if (type(other), str(other)) != (type(error), str(error)):
                suspects.append(key)  # e.g. a required argument: removing it proves nothing
            continue
        culprit = key
        break
    if culprit is None and len(suspects) == 1:
        culprit = suspects[0]  # every other argument leaves the same error standing
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    if not isinstance(error, ConfigError):
        reason = f"{type(error).__name__}: {reason}"
    if culprit is None:
        raise ConfigError(f"{where(marks, section)}: {section}: cannot build it from these "
                          f"settings ({reason}); check the {section} section") from None
    key = f"{section}.{culprit}"
    raise ConfigError(f"{where(marks, key)}: {key}: {kwargs[culprit]!r} is refused ({reason}); "
                      "fix or remove it") from None


def check_schedule_length(cfg: Any, scheduler: Any, steps_per_epoch: int) -> None:
    """Refuse a OneCycleLR whose cycle ends before the run does (it would fail mid-run)."""
    total = getattr(scheduler, "total_steps", None)
    if total is None or type(scheduler).__name__ != "OneCycleLR":
        return
    if cfg.scheduler.interval == "step":
        needed = cfg.train.epochs * steps_per_epoch
        needed = min(needed, cfg.train.max_steps or needed)
    else:
        needed = cfg.train.epochs
    if needed > total:
        keys = [k for k in ("total_steps", "epochs", "steps_per_epoch")
                if k in cfg.scheduler.kwargs] or ["name"]
        key = f"scheduler.{keys[0]}"
        raise ConfigError(f"{where(marks_of(cfg), key)}: {key}: the one-cycle schedule has "
                          f"{total} steps but the run takes {needed} scheduler steps "
                          f"({cfg.train.epochs} epochs, interval {cfg.scheduler.interval}); "
                          "set scheduler.total_steps to at least that")
