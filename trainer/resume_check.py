"""Checks a checkpoint against the objects it is loaded into, in one line naming file and key.

Resume applies a checkpoint in memory only after every part of it passed these checks, so a
damaged or foreign checkpoint is refused before any file of the run is changed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError, EngineError

_COUNTERS = ("step", "epoch", "bad_epochs")
_FLAGS = ("finished", "stopped_early")
_SUMS = ("loss", "correct", "count", "seconds", "win_loss", "win_correct", "win_count")


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_model_state(model: Any, saved: Any, file: Path) -> None:
    """Refuse a model state dict whose keys, shapes or dtypes differ from model's (first one)."""
    from engine.tensor import Tensor

    where = f"{file} does not match the model built from the config"
    if not isinstance(saved, dict):
        raise CheckpointError(f"{where}: it holds a {type(saved).__name__}, not a state dict")
    expected = model.state_dict()
    for key, target in expected.items():
        if key not in saved:
            raise CheckpointError(f"{where}: key '{key}' is missing (the model expects shape "
                                  f"{_shape(target.shape)}); evaluate with the run's own config")
        value = saved[key]
        if not isinstance(value, Tensor):
            raise CheckpointError(f"{where}: key '{key}' holds a {type(value).__name__}, not a "
                                  "tensor")
        if tuple(value.shape) != tuple(target.shape):
            raise CheckpointError(f"{where}: key '{key}' has shape {_shape(value.shape)}, the "
                                  f"model expects {_shape(target.shape)}")
        if value._data.dtype.kind != target._data.dtype.kind:
            raise CheckpointError(f"{where}: key '{key}' has dtype {value.dtype}, the model "
                                  f"expects {target.dtype}")
    for key in saved:
        if key not in expected:
            raise CheckpointError(f"{where}: unexpected key '{key}' (the model has no such "
                                  "parameter or buffer)")


def load_model_state(model: Any, ckpt: dict[str, Any]) -> None:
    """Check, then load a checkpoint's model state into model."""
    from trainer.checkpoint import MODEL_FILE

    check_model_state(model, ckpt["model"], Path(ckpt["path"]) / MODEL_FILE)
    model.load_state_dict(ckpt["model"])


def _check_train(train: Any, where: str) -> None:
    if not isinstance(train, dict):
        raise CheckpointError(f"{where}: 'train' must be an object, not {type(train).__name__}")
    allowed = {*_COUNTERS, *_FLAGS, "best", "best_epoch", "sums"}
    extra = sorted(set(train) - allowed)
    if extra:
        raise CheckpointError(f"{where}: 'train' has an unknown key '{extra[0]}'")
    for key in _COUNTERS:
        if not _is_int(train.get(key)) or train[key] < 0:
            raise CheckpointError(f"{where}: 'train.{key}' must be a non-negative integer, got "
                                  f"{train.get(key)!r}")
    for key in _FLAGS:
        if not isinstance(train.get(key), bool):
            raise CheckpointError(f"{where}: 'train.{key}' must be true or false, got "
                                  f"{train.get(key)!r}")
    best, best_epoch = train.get("best"), train.get("best_epoch")
    if best is not None and not _is_number(best):
        raise CheckpointError(f"{where}: 'train.best' must be a number or null, got {best!r}")
    if best_epoch is not None and (not _is_int(best_epoch) or not 0 <= best_epoch
                                   <= train["epoch"]):
        raise CheckpointError(f"{where}: 'train.best_epoch' must be null or an epoch in 0.."
                              f"{train['epoch']}, got {best_epoch!r}")
    sums = train.get("sums")
    if not isinstance(sums, dict) or set(sums) != set(_SUMS):
        raise CheckpointError(f"{where}: 'train.sums' must be an object with the keys "
                              f"{', '.join(_SUMS)}")
    for key in _SUMS:
        if not _is_number(sums[key]) or not math.isfinite(sums[key]) or sums[key] < 0 and \
                key not in ("loss", "win_loss"):
            raise CheckpointError(f"{where}: 'train.sums.{key}' must be a finite number, got "
                                  f"{sums[key]!r}")


def _check_rng(rng: Any, where: str) -> None:
    import engine

    bit_generator = engine.random.default_generator._np.bit_generator
    if not isinstance(rng, dict) or rng.get("bit_generator") != type(bit_generator).__name__:
        raise CheckpointError(f"{where}: 'rng' must be a {type(bit_generator).__name__} state "
                              "as written by the trainer")
    inner = rng.get("state")
    if not isinstance(inner, dict) or not all(_is_int(v) and v >= 0 for v in inner.values()):
        raise CheckpointError(f"{where}: 'rng.state' must hold non-negative integers")
    try:  # a scratch generator accepts exactly the states that set_rng_state will
        type(bit_generator)().state = rng
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"{where}: 'rng' is not a valid generator state ({exc})") from None


def _check_loader(loader_state: Any, loader: Any, where: str) -> None:
    if not isinstance(loader_state, dict):
        raise CheckpointError(f"{where}: 'loader' must be an object")
    for key in ("seed", "epoch", "position"):
        if not _is_int(loader_state.get(key)) or loader_state[key] < 0:
            raise CheckpointError(f"{where}: 'loader.{key}' must be a non-negative integer, got "
                                  f"{loader_state.get(key)!r}")
    batches = len(loader)
    if loader_state["position"] > batches:
        raise CheckpointError(f"{where}: 'loader.position' is {loader_state['position']} but an "
                              f"epoch has {batches} batches")
    ahead = loader_state.get("consumed_ahead", [])
    if not isinstance(ahead, list) or not all(_is_int(i) and 0 <= i < batches for i in ahead):
        raise CheckpointError(f"{where}: 'loader.consumed_ahead' must list batch indices in "
                              f"0..{batches - 1}")


def check_state(state: Any, file: Path, loader: Any) -> None:
    """Refuse a state.json whose types or ranges are not what the trainer writes."""
    where = f"{file} is damaged"
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: it holds a {type(state).__name__}, not an object")
    for key in ("step", "epoch"):
        if not _is_int(state.get(key)) or state[key] < 0:
            raise CheckpointError(f"{where}: '{key}' must be a non-negative integer, got "
                                  f"{state.get(key)!r}")
    _check_train(state.get("train"), where)
    for key in ("step", "epoch"):
        if state["train"][key] != state[key]:
            raise CheckpointError(f"{where}: 'train.{key}' ({state['train'][key]}) differs from "
                                  f"'{key}' ({state[key]})")
    _check_rng(state.get("rng"), where)
    _check_loader(state.get("loader"), loader, where)
    for key in ("scheduler", "scaler"):
        if state.get(key) is not None and not isinstance(state[key], dict):
            raise CheckpointError(f"{where}: '{key}' must be an object or null")


def check_optimizer_state(optimizer: Any, saved: Any, file: Path) -> None:
    """Refuse optimizer state whose groups or hyperparameters do not fit optimizer."""
    where = f"{file} does not match the optimizer built from the config"
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list) or \
            not isinstance(saved.get("state"), dict):
        raise CheckpointError(f"{where}: it must hold 'state' and 'param_groups'")
    if len(saved["param_groups"]) != len(optimizer.param_groups):
        raise CheckpointError(f"{where}: {len(saved['param_groups'])} parameter group(s), the "
                              f"optimizer has {len(optimizer.param_groups)}")
    for i, (group, mine) in enumerate(zip(saved["param_groups"], optimizer.param_groups,
                                          strict=True)):
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            raise CheckpointError(f"{where}: param_groups[{i}] must be an object with 'params'")
        for key, value in mine.items():
            if key in ("params", "param_names"):
                continue
            if not _is_number(value):
                if key in group:
                    check_like(group[key], value, where, f"param_groups[{i}].{key}")
                continue
            if not _is_number(group.get(key)) or not math.isfinite(group[key]):
                raise CheckpointError(f"{where}: param_groups[{i}].{key} must be a finite "
                                      f"number, got {group.get(key)!r}")
            if group[key] < 0:
                raise CheckpointError(f"{where}: param_groups[{i}].{key} is negative "
                                      f"({group[key]})")


def check_like(saved: Any, current: Any, where: str, key: str) -> None:
    """Refuse saved where its numbers, flags, strings or list lengths differ from current's."""
    if _is_number(current):
        ok = _is_number(saved) and (not isinstance(saved, float) or not math.isnan(saved))
    elif isinstance(current, bool | str) or current is None:
        ok = current is None or isinstance(saved, type(current))
    elif isinstance(current, list | tuple):
        ok = isinstance(saved, list | tuple) and len(saved) == len(current)
        for i, (a, b) in enumerate(zip(saved, current, strict=False) if ok else ()):
            check_like(a, b, where, f"{key}[{i}]")
    elif isinstance(current, dict):
        ok = isinstance(saved, dict)
        for k in current if ok else ():
            if k in saved:
                check_like(saved[k], current[k], where, f"{key}.{k}")
    else:
        ok = True
    if not ok:
        raise CheckpointError(f"{where}: '{key}' is {saved!r}, expected a value like "
                              f"{current!r}")


def apply(session: Any, ckpt: dict[str, Any]) -> Any:
    """Check every part of ckpt, then load it into session's model, optimizer, scheduler, loader.

    Returns the TrainState to continue from. Nothing on disk is touched.
    """
    import engine
    from trainer.checkpoint import MODEL_FILE, OPTIM_FILE, STATE_FILE
    from trainer.loop import TrainState

    folder, st = Path(ckpt["path"]), ckpt["state"]
    check_state(st, folder / STATE_FILE, session.data.train)
    check_model_state(session.model, ckpt["model"], folder / MODEL_FILE)
    check_optimizer_state(session.optimizer, ckpt["optimizer"], folder / OPTIM_FILE)
    session.model.load_state_dict(ckpt["model"])
    try:
        session.optimizer.load_state_dict(ckpt["optimizer"])
    except (EngineError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{folder / OPTIM_FILE} does not match the optimizer built from "
                              f"the config: {exc}") from None
    if session.scheduler is not None and st.get("scheduler") is not None:
        check_like(st["scheduler"], session.scheduler.state_dict(),
                   f"{folder / STATE_FILE} is damaged", "scheduler")
    scaler = _checked_scaler(session, st, folder / STATE_FILE)
    try:
        if session.scheduler is not None and st.get("scheduler") is not None:
            session.scheduler.load_state_dict(st["scheduler"])
        session.data.train.load_state_dict(st["loader"])
        if scaler is not None:
            session.amp.scaler.load_state_dict(scaler)
    except (EngineError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{folder / STATE_FILE} does not fit this run: {exc}") from None
    engine.set_rng_state(st["rng"])
    return TrainState.from_dict(st["train"])


def _checked_scaler(session: Any, st: dict[str, Any], file: Path) -> dict[str, Any] | None:
    """The GradScaler state to restore (None without loss scaling); refused unless whole."""
    amp = getattr(session, "amp", None)
    if amp is None or not amp.scaler.is_enabled():
        return None
    saved = st.get("scaler")
    current = amp.scaler.state_dict()
    if not isinstance(saved, dict) or set(saved) != set(current):
        raise CheckpointError(f"{file} is damaged: 'scaler' must hold the GradScaler state "
                              f"({', '.join(current)}) of a train.amp run")
    check_like(saved, current, f"{file} is damaged", "scaler")
    return saved
