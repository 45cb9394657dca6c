"""train.amp: the config key, AMP runs that train like float32 ones, exact resume with the scaler
state, skipped steps that leave the schedule alone, and clipping of unscaled gradients."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import nn, optim
from engine.amp import GradScaler
from engine.utils.data import DataLoader, TensorDataset
from trainer import amp as amp_mod
from trainer import config
from trainer.loop import fit, train_step
from trainer.schema import TrainConfig

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("true", True),
                                                 ("bf16", "bf16"), ("BF16", "bf16")])
def test_config_values(value: str, expected) -> None:
    assert config.load(SMOKE, [f"train.amp={value}"]).train.amp == expected
    assert config.load(SMOKE).train.amp is False


def test_bad_value_is_one_config_error(cli, tiny_config: Path, tmp_path: Path) -> None:
    result = cli("train", tiny_config, "train.amp=fp8")
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: override 'train.amp=fp8': train.amp: expected one of false, true, bf16, got "
        "'fp8'"]
    assert not (tmp_path / "runs").exists()


def test_a_default_amp_key_leaves_old_runs_resumable() -> None:
    cfg = config.load(SMOKE)
    assert config.config_hash(cfg) == config.config_hash(config.load(SMOKE, ["train.amp=false"]))
    assert config.config_hash(cfg) != config.config_hash(config.load(SMOKE, ["train.amp=true"]))


def _result(run: Path) -> tuple[dict, dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs, tests = ([r for r in rows if r["kind"] == kind] for kind in ("epoch", "test"))
    return epochs[-1], tests[0]


def test_amp_smoke_run_converges_like_float32(cli, tmp_path: Path) -> None:
    """configs/smoke.yaml with float16 and bfloat16 autocast: final train loss within 5% (and
    2e-3) of the float32 run's, validation and test accuracy within 0.01."""
    results = {}
    for mode in ("false", "true", "bf16"):
        run = tmp_path / f"run-{mode}"
        result = cli("train", SMOKE, "--run-dir", run, "--progress", "none",
                     f"train.amp={mode}", "train.plot=false")
        assert result.exit_code == 0, result.output
        results[mode] = _result(run)
    (ref_epoch, ref_test) = results["false"]
    assert ref_epoch["val_acc"] > 0.9  # the float32 run learned the task
    for mode in ("true", "bf16"):
        epoch, test = results[mode]
        assert abs(epoch["train_loss"] - ref_epoch["train_loss"]) <= max(
            0.05 * ref_epoch["train_loss"], 2e-3), mode
        assert abs(epoch["val_acc"] - ref_epoch["val_acc"]) <= 0.01, mode
        assert abs(test["test_acc"] - ref_test["test_acc"]) <= 0.01, mode
        assert epoch["train_loss"] != ref_epoch["train_loss"]  # it did run in low precision
    scaler = json.loads((tmp_path / "run-true" / "checkpoints" / "last" / "state.json")
                        .read_text())["scaler"]
    assert scaler == {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                      "growth_interval": 2000, "_growth_tracker": 75}  # 75 clean steps
    bf16_state = tmp_path / "run-bf16" / "checkpoints" / "last" / "state.json"
    assert json.loads(bf16_state.read_text())["scaler"] is None  # bfloat16: no loss scaling


def _final(run: Path) -> tuple[bytes, bytes, dict]:
    last = run / "checkpoints" / "last"
    return ((last / "model.safetensors").read_bytes(),
            (last / "optimizer.safetensors").read_bytes(),
            json.loads((last / "state.json").read_text())["scaler"])


def test_amp_resume_is_bit_identical(cli, tiny_config: Path, tmp_path: Path) -> None:
    """Stopped mid-epoch and resumed, a float16 run ends with the same weights, optimizer and
    scaler state as one that never stopped (a growth_interval of 3 makes the scaler move)."""
    overrides = ("train.amp=true",)
    straight = tmp_path / "runs" / "straight"
    assert cli("train", tiny_config, "--run-dir", straight, "--progress", "none",
               *overrides).exit_code == 0
    stopped = tmp_path / "runs" / "stopped"
    first = cli("train", tiny_config, "--run-dir", stopped, "--progress", "none", *overrides,
                "train.stop_after_steps=5")
    assert first.exit_code == 130, first.output
    saved = json.loads((stopped / "checkpoints" / "last" / "state.json").read_text())["scaler"]
    assert saved["_growth_tracker"] == 5
    second = cli("train", stopped / "config.yaml", "--resume", stopped, "--progress", "none")
    assert second.exit_code == 0, second.output
    assert _final(stopped) == _final(straight)
    assert _final(straight)[2]["_growth_tracker"] == 16


def test_damaged_scaler_state_is_refused(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "stopped"
    assert cli("train", tiny_config, "--run-dir", run, "--progress", "none", "train.amp=true",
               "train.stop_after_steps=3").exit_code == 130
    state_file = run / "checkpoints" / "last" / "state.json"
    good = json.loads(state_file.read_text())
    for bad, message in (({"scale": 2.0}, "'scaler' must hold the GradScaler state"),
                         (None, "'scaler' must hold the GradScaler state"),
                         ("x", "'scaler' must be an object or null")):
        state = json.loads(state_file.read_text())
        state["scaler"] = bad
        state_file.write_text(json.dumps(state))
        result = cli("train", run / "config.yaml", "--resume", run)
        assert result.exit_code == 1, result.output
        out = result.output.strip()
        assert len(out.splitlines()) == 1 and f"{state_file} is damaged: {message}" in out, out
    for scale in (0.0, 1e-45, 1e300):  # float32 makes them 0, a reciprocal of inf, and inf
        state_file.write_text(json.dumps({**good, "scaler": {**good["scaler"], "scale": scale}}))
        result = cli("train", run / "config.yaml", "--resume", run)
        assert result.exit_code == 1, result.output
        out = result.output.strip()
        assert len(out.splitlines()) == 1 and out.endswith(
            f"'scale' must be a number > 0 whose float32 value and reciprocal are finite, got "
            f"{scale!r}"), out


def _tiny_fit_parts():
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = engine.randn(24, 4), engine.randint(0, 3, (24,))
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    opt = optim.SGD(model.parameters(), lr=0.1)
    return model, opt, loader


def test_a_skipped_step_does_not_advance_the_scheduler() -> None:
    model, opt, loader = _tiny_fit_parts()
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    amp = amp_mod.Amp(True, "cpu")
    # 2**40 overflows the float16 gradients: the first step is skipped and the scale drops to
    # 2**15 at once; the five steps after it are clean
    amp.scaler = GradScaler("cpu", init_scale=2.0**40, backoff_factor=2.0**-25)
    cfg = TrainConfig(epochs=1, monitor="train_loss", log_every_steps=100)
    with np.errstate(over="ignore", invalid="ignore"):
        state = fit(model, opt, loader, None, cfg, sched, "step", amp=amp)
    assert state.step == 6
    assert amp.scaler.get_scale() == 2.0**15
    assert sched.last_epoch == 5  # six iterations, five optimizer steps
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**5)


def test_a_step_skipped_at_an_infinite_scale_is_seen() -> None:
    """inf * backoff_factor is inf: the skip is read from the scaler, not from a lower scale."""
    model, opt, loader = _tiny_fit_parts()
    images, labels = next(iter(loader))
    amp = amp_mod.Amp(True, "cpu")
    train_step(model, opt, images, labels, None, amp)
    assert not amp.skipped
    amp.scaler.update(new_scale=float("inf"))
    before = [p.detach().numpy().copy() for p in model.parameters()]
    with np.errstate(invalid="ignore"):  # inf gradients times 1/inf
        train_step(model, opt, images, labels, None, amp)
    assert amp.skipped and amp.scaler.get_scale() == float("inf")
    for p, old in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.detach().numpy(), old)
    bf16 = amp_mod.Amp("bf16", "cpu")  # no scaler: nothing is ever skipped
    train_step(model, opt, images, labels, None, bf16)
    assert not bf16.skipped


def test_grad_clip_sees_unscaled_gradients(monkeypatch) -> None:
    norms = []
    real_clip = amp_mod.clip_grad_norm_

    def recording_clip(params, max_norm):
        norm = real_clip(params, max_norm)
        norms.append(float(norm))
        return norm

    monkeypatch.setattr(amp_mod, "clip_grad_norm_", recording_clip)
    model, opt, loader = _tiny_fit_parts()
    images, labels = next(iter(loader))
    reference = model(images)
    engine.nn.functional.cross_entropy(reference, labels).backward()
    true_norm = float(engine.nn.utils.clip_grad_norm_(model.parameters(), 1e9))
    amp = amp_mod.Amp(True, "cpu")
    train_step(model, opt, images, labels, 1e-3, amp)
    assert not amp.skipped
    assert norms[0] == pytest.approx(true_norm, rel=1e-2)  # not 65536 times it
