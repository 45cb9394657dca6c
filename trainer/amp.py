"""train.amp: the autocast region and GradScaler that a training step runs under."""

from __future__ import annotations

from typing import Any

import engine
from engine.amp import GradScaler
from engine.nn.utils import clip_grad_norm_


class Amp:
    """Mixed precision for train_step: float16 with loss scaling, or emulated bfloat16."""

    def __init__(self, mode: bool | str, device: str) -> None:
        self.device_type = "cpu" if device == "cpu" else "cuda"
        self.dtype = engine.bfloat16 if mode == "bf16" else engine.float16
        # bfloat16 has float32's exponent range: no loss scaling, as PyTorch's recipes do
        self.scaler = GradScaler(self.device_type, enabled=self.dtype is engine.float16)
        self.skipped = False  # the last step's gradients overflowed: no optimizer step was taken

    def autocast(self) -> engine.amp.autocast:
        """The region the forward and the loss run in."""
        return engine.autocast(self.device_type, dtype=self.dtype)

    def backward_and_step(self, loss: Any, optimizer: Any, params: Any,
                          grad_clip: float | None) -> None:
        """Scaled backward, unscale_ before clipping, then step unless the gradients overflowed."""
        scaler = self.scaler
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            clip_grad_norm_(params, grad_clip)
        scaler.step(optimizer)
        # The scaler's own record, read before update() clears it: a drop of the scale would
        # miss a skip at an infinite scale (inf * backoff_factor is inf).
        self.skipped = scaler.is_enabled() and scaler._step_was_skipped(optimizer)
        scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        """The scaler's state for state.json (None when there is no loss scaling)."""
        return self.scaler.state_dict() if self.scaler.is_enabled() else None


def build_amp(cfg: Any) -> Amp | None:
    """train.amp's Amp for cfg.device, or None for float32 training."""
    return Amp(cfg.train.amp, cfg.device) if cfg.train.amp else None
