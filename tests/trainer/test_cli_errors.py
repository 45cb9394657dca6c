"""Acceptance 4: each bad input gives one clear message and the documented exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from folder_snapshot import tree_hash


def _error_line(result: object) -> str:
    out = result.output.strip()
    assert "Traceback" not in out
    return out


def test_missing_config_file(cli, tmp_path: Path) -> None:
    result = cli("train", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert f"config file {tmp_path / 'nope.yaml'} not found" in _error_line(result)


def test_yaml_syntax_error_names_line(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain:\n  epochs: 2\n  monitor: [val_acc\n")
    result = cli("train", bad)
    assert result.exit_code == 2
    assert f"{bad}:5:1: YAML syntax error" in _error_line(result)


def test_unknown_key_did_you_mean(cli, tiny_config: Path) -> None:
    text = tiny_config.read_text().replace("  epochs: 2", "  epochz: 2")
    tiny_config.write_text(text)
    line = 1 + text.splitlines().index("  epochz: 2")
    result = cli("train", tiny_config)
    assert result.exit_code == 2
    assert (f"{tiny_config}:{line}: unknown key 'train.epochz'; did you mean 'train.epochs'?"
            in _error_line(result))


def test_wrong_type(cli, tiny_config: Path) -> None:
    result = cli("train", tiny_config, "data.batch_size=big")
    assert result.exit_code == 2
    assert "data.batch_size: expected an integer >= 1, got 'big'" in _error_line(result)


def test_out_of_range(cli, tiny_config: Path) -> None:
    result = cli("train", tiny_config, "optimizer.lr=-1")
    assert result.exit_code == 2
    assert "optimizer.lr: expected a number > 0.0, got -1" in _error_line(result)


def test_unknown_model_lists_choices(cli, tiny_config: Path) -> None:
    result = cli("train", tiny_config, "model.name=resnet")
    assert result.exit_code == 2
    out = _error_line(result)
    assert "unknown model 'resnet'" in out and "mlp" in out and "cnn" in out


def test_missing_data_with_download_off(cli, tiny_config: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("train", tiny_config, "data.dataset=kmnist", f"data.root={empty}",
                 "data.download=false")
    assert result.exit_code == 1
    out = _error_line(result)
    assert "KMNIST: files train-images-idx3-ubyte(.gz)" in out and str(empty) in out


@pytest.fixture
def finished_run(cli, tiny_config: Path, tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "done"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none", "train.epochs=1")
    assert result.exit_code == 0, result.output
    return run


def test_resume_with_another_model_is_refused(cli, tiny_config: Path, finished_run: Path) -> None:
    cnn = tiny_config.with_name("cnn.yaml")
    cnn.write_text(tiny_config.read_text().replace(
        "  name: mlp\n  hidden: [16]\n  dropout: 0.1\n", "  name: cnn\n"))
    before = tree_hash(finished_run)
    result = cli("train", cnn, "--resume", finished_run)
    assert result.exit_code == 2
    out = _error_line(result)
    assert f"cannot resume {finished_run}" in out and "model.name: 'mlp' -> 'cnn'" in out
    assert tree_hash(finished_run) == before


def test_truncated_checkpoint(cli, tiny_config: Path, finished_run: Path) -> None:
    model_file = finished_run / "checkpoints" / "last" / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:100])
    before = tree_hash(finished_run)
    result = cli("train", tiny_config, "--resume", finished_run, "train.epochs=2")
    assert result.exit_code == 1
    out = _error_line(result)
    assert str(model_file) in out and ("truncated" in out or "corrupt" in out)
    assert tree_hash(finished_run) == before
    result = cli("eval", finished_run)
    assert result.exit_code == 1 and str(model_file) in _error_line(result)


def test_resume_of_a_folder_that_is_not_a_run(cli, tiny_config: Path, tmp_path: Path) -> None:
    result = cli("train", tiny_config, "--resume", tmp_path)
    assert result.exit_code == 1
    assert "is not a run directory" in _error_line(result)


def test_nonfinite_loss_names_step_and_op(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "diverged"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none",
                 "optimizer.lr=1e30", "train.checkpoint_every_steps=1")
    assert result.exit_code == 1
    out = _error_line(result)
    assert "non-finite loss nan at step 2 (epoch 1)" in out
    assert "first non-finite output came from op Linear" in out
    assert str(run / "checkpoints" / "last") in out
    assert json.loads((run / "checkpoints" / "last" / "state.json").read_text())["step"] == 1
    import engine.function

    assert engine.function.trace_hook is None
