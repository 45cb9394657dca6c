"""Tampered and mismatched checkpoints, and failed checkpoint writes: one line, nothing lost."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from folder_snapshot import run_files

import engine
from trainer import checkpoint as ckpt_io


def _one_line(result: object) -> str:
    out = result.output.strip()
    assert "Traceback" not in out and "internal error" not in out, out
    assert len(out.splitlines()) == 1, out
    return out


@pytest.fixture
def stopped_run(cli, tiny_config: Path, tmp_path: Path) -> Path:
    """A run interrupted mid-epoch 1 (step 5): config, metrics and a `last` checkpoint."""
    run = tmp_path / "runs" / "stopped"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none",
                 "train.stop_after_steps=5")
    assert result.exit_code == 130, result.output
    return run


def _retype_f32_as_i32(path: Path) -> None:
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = data[8:8 + size].replace(b'"F32"', b'"I32"')
    path.write_bytes(data[:8] + header + data[8 + size:])


def test_retyped_model_file_is_refused_by_eval_and_resume(cli, stopped_run: Path) -> None:
    model_file = stopped_run / "checkpoints" / "last" / "model.safetensors"
    _retype_f32_as_i32(model_file)
    before = run_files(stopped_run)
    result = cli("eval", stopped_run)
    assert result.exit_code == 1
    out = _one_line(result)
    assert str(model_file) in out and "digest" in out
    result = cli("train", stopped_run / "config.yaml", "--resume", stopped_run)
    assert result.exit_code == 1
    assert str(model_file) in _one_line(result)
    assert run_files(stopped_run) == before


def _replace_model_state(run: Path, edit) -> Path:
    model_file = run / "checkpoints" / "last" / "model.safetensors"
    state = engine.load(model_file)
    engine.save(edit(state), model_file)
    return model_file


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: {k: v for k, v in s.items() if k != "net.4.bias"},
     "key 'net.4.bias' is missing (the model expects shape (10))"),
    (lambda s: {**s, "net.9.weight": engine.zeros(2)}, "unexpected key 'net.9.weight'"),
    (lambda s: {**s, "net.1.weight": engine.zeros(8, 784)},
     "key 'net.1.weight' has shape (8, 784), the model expects (16, 784)"),
    (lambda s: {**s, "net.1.bias": engine.zeros(16, dtype=engine.int64)},
     "key 'net.1.bias' has dtype engine.int64, the model expects engine.float32"),
])
def test_state_dict_mismatch_is_one_line_naming_file_and_key(cli, stopped_run: Path, edit,
                                                             message: str) -> None:
    model_file = _replace_model_state(stopped_run, edit)
    before = run_files(stopped_run)
    for args in (("eval", stopped_run), ("export", stopped_run),
                 ("train", stopped_run / "config.yaml", "--resume", stopped_run)):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        out = _one_line(result)
        assert f"{model_file} does not match the model built from the config" in out, out
        assert message in out, out
    assert run_files(stopped_run) == before


def _fail_writes_after(monkeypatch: pytest.MonkeyPatch, ok_calls: int, where: str) -> None:
    """Make file writes fail as on a full disk once ok_calls safetensors files are written."""
    import engine.io.safetensors as st

    real, calls = st.atomic_write, []

    @contextlib.contextmanager
    def atomic_write(path, *args, **kwargs):
        calls.append(path)
        with real(path, *args, **kwargs) as f:
            if len(calls) > ok_calls and where in str(path):
                f.write(b"partial")
                raise OSError(28, "No space left on device")
            yield f

    monkeypatch.setattr(st, "atomic_write", atomic_write)


def test_disk_full_during_a_checkpoint_names_it_and_keeps_last(cli, tiny_config: Path,
                                                               tmp_path: Path,
                                                               monkeypatch) -> None:
    run = tmp_path / "runs" / "full"
    _fail_writes_after(monkeypatch, ok_calls=6, where="optimizer")  # 3 checkpoints, then full
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none",
                 "train.checkpoint_every_steps=1")
    assert result.exit_code == 1
    out = _one_line(result).splitlines()[-1]
    last = run / "checkpoints" / "last"
    assert out.startswith(f"error: cannot write checkpoint {last} (")
    assert "No space left on device" in out and f"the last good checkpoint is {last}" in out
    ckpt = ckpt_io.load_checkpoint(run)
    assert ckpt["state"]["step"] == 3
    assert not list((run / "checkpoints").glob(".tmp-*"))  # the half-written one is gone


def test_oserror_writing_state_json_before_any_checkpoint(cli, tiny_config: Path,
                                                          tmp_path: Path, monkeypatch) -> None:
    real_dumps = json.dumps

    def dumps(obj, *args, **kwargs):
        if isinstance(obj, dict) and "config_hash" in obj:  # the checkpoint's state.json
            raise OSError(28, "No space left on device")
        return real_dumps(obj, *args, **kwargs)

    monkeypatch.setattr(ckpt_io.json, "dumps", dumps)
    run = tmp_path / "runs" / "full"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none")
    assert result.exit_code == 1
    out = _one_line(result)
    assert "No space left on device" in out and "no checkpoint was written before" in out
    assert not (run / "checkpoints" / "last").exists()


def test_failed_rename_puts_the_previous_last_back(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    ckpt_io.save_checkpoint(folder, "last", {"w": engine.ones(2)}, {}, {"step": 1})
    real_rename, calls = ckpt_io.os.rename, []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # last -> last.old went through; tmp -> last fails
            raise OSError(5, "Input/output error", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(ckpt_io.os, "rename", rename)
    with pytest.raises(engine.errors.CheckpointError, match="the last good checkpoint is"):
        ckpt_io.save_checkpoint(folder, "last", {"w": engine.zeros(2)}, {}, {"step": 2})
    assert json.loads((folder / "last" / "state.json").read_text())["step"] == 1
    assert not (folder / "last.old").exists()
