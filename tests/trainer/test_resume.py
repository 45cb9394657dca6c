"""Acceptance 3: an interrupted and resumed run ends bit-identical to one that never stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _final(run: Path) -> tuple[bytes, bytes, list[dict]]:
    last = run / "checkpoints" / "last"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [{k: v for k, v in r.items() if k not in ("epoch_seconds", "samples_per_s")}
              for r in rows if r["kind"] in ("epoch", "test")]
    return ((last / "model.safetensors").read_bytes(),
            (last / "optimizer.safetensors").read_bytes(), epochs)


@pytest.fixture
def straight(cli, tiny_config: Path, tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "straight"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none")
    assert result.exit_code == 0, result.output
    return run


# 8 steps per epoch: 5 stops mid-epoch 1, 8 stops exactly between epochs 1 and 2.
@pytest.mark.parametrize("stop_after", [5, 8])
def test_resume_is_bit_identical(cli, tiny_config: Path, tmp_path: Path, straight: Path,
                                 stop_after: int) -> None:
    run = tmp_path / "runs" / f"stopped-{stop_after}"
    first = cli("train", tiny_config, "--run-dir", run, "--progress", "log",
                f"train.stop_after_steps={stop_after}")
    assert first.exit_code == 130, first.output
    assert f"--resume {run}" in first.output
    state = json.loads((run / "checkpoints" / "last" / "state.json").read_text())
    assert state["step"] == stop_after
    assert state["loader"]["position"] == stop_after % 8
    second = cli("train", run / "config.yaml", "--resume", run, "--progress", "none")
    assert second.exit_code == 0, second.output
    model, optim, rows = _final(run)
    model_ref, optim_ref, rows_ref = _final(straight)
    assert model == model_ref
    assert optim == optim_ref
    assert rows == rows_ref


def test_resume_can_extend_epochs(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "short"
    assert cli("train", tiny_config, "--run-dir", run, "--progress", "none",
               "train.epochs=1").exit_code == 0
    ref = tmp_path / "runs" / "long"
    assert cli("train", tiny_config, "--run-dir", ref, "--progress", "none").exit_code == 0
    result = cli("train", run / "config.yaml", "--resume", run, "train.epochs=2",
                 "--progress", "none")
    assert result.exit_code == 0, result.output
    assert _final(run)[0] == _final(ref)[0]
