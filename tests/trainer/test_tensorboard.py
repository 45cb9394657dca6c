"""train.tensorboard: event files in <run>/tb/ read back; resume; off; tensorboardX absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorboardX")

from tb_events import hparams_start, read_events, scalars  # noqa: E402


def _rows(run: Path, kind: str) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == kind]


def _train(cli, *args) -> None:
    result = cli("train", *args, "--progress", "none")
    assert result.exit_code == 0, result.output


def test_a_run_logs_steps_epochs_and_hparams(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "tb"
    _train(cli, tiny_config, "--run-dir", run)  # train.tensorboard null: on, tensorboardX is here
    events = read_events(run / "tb")
    assert events[0].file_version == "brain.Event:2"
    tags = scalars(events)
    steps, epochs = _rows(run, "step"), _rows(run, "epoch")
    assert [r["step"] for r in steps] == [3, 6, 9, 12, 15]  # 8 steps an epoch, logged every 3
    for tag, key in (("train/loss", "train_loss"), ("train/acc", "train_acc"), ("train/lr", "lr")):
        assert [s for s, _ in tags[tag]] == [r["step"] for r in steps]
        assert [v for _, v in tags[tag]] == pytest.approx([r[key] for r in steps], rel=1e-6)
    for tag, key in (("val/acc", "val_acc"), ("val/loss", "val_loss"),
                     ("epoch/train_loss", "train_loss"), ("epoch/lr", "lr")):
        assert tags[tag] == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in epochs]
    assert len(tags["val/acc"]) == 2  # one per epoch
    result = json.loads((run / "meta.json").read_text())["result"]
    assert tags["hparam/test_acc"] == [(16, pytest.approx(result["test_acc"], rel=1e-6))]
    assert tags["hparam/best_val_acc"][0][1] == pytest.approx(result["best_val_acc"], rel=1e-6)
    hp = hparams_start(events).hparams
    assert hp["optimizer.lr"].number_value == pytest.approx(0.005)
    assert hp["optimizer.name"].string_value == "adam" and hp["model.hidden"].string_value == "[16]"
    assert hp["train.plot"].bool_value is False and "train.max_steps" not in hp  # null: left out


def test_tensorboard_false_writes_no_tb_folder(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "off"
    _train(cli, tiny_config, "--run-dir", run, "train.tensorboard=false", "train.epochs=1")
    assert not (run / "tb").exists() and (run / "checkpoints" / "last").is_dir()


def test_auto_is_null_and_missing_tensorboardx_is_off_or_refused(cli, tiny_config: Path,
                                                                tmp_path: Path,
                                                                monkeypatch) -> None:
    from trainer import config as config_mod
    from trainer import tensorboard

    assert config_mod.load(tiny_config, ["train.tensorboard=auto"]).train.tensorboard is None
    monkeypatch.setattr(tensorboard, "available", lambda: False)
    run = tmp_path / "runs" / "auto"
    _train(cli, tiny_config, "--run-dir", run, "train.tensorboard=auto", "train.epochs=1")
    assert not (run / "tb").exists()
    refused = tmp_path / "runs" / "refused"
    result = cli("train", tiny_config, "--run-dir", refused, "train.tensorboard=true")
    assert result.exit_code == 2
    assert result.output.strip() == ("error: override 'train.tensorboard=true': train.tensorboard:"
                                     " true needs tensorboardX: pip install 'gradwell[tb]'")
    assert not refused.exists()  # refused before the run folder was made


def test_a_resumed_run_appends_a_new_file_that_supersedes_the_rest(cli, tiny_config: Path,
                                                                   tmp_path: Path) -> None:
    run = tmp_path / "runs" / "resumed"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none",
                 "train.stop_after_steps=5")
    assert result.exit_code == 130, result.output
    first = sorted((run / "tb").iterdir())
    assert len(first) == 1
    assert [s for s, _ in scalars(read_events(run / "tb"))["train/loss"]] == [3]
    _train(cli, run / "config.yaml", "--resume", run)
    files = sorted((run / "tb").iterdir())
    assert len(files) == 2 and first[0] in files
    later = [e for e in read_events(run / "tb") if e.step == 5 and e.HasField("session_log")]
    assert len(later) == 1 and later[0].session_log.status == later[0].session_log.START
    tags = scalars(read_events(run / "tb"))
    assert [s for s, _ in tags["train/loss"]] == [r["step"] for r in _rows(run, "step")] == \
        [3, 6, 9, 12, 15]
    assert [s for s, _ in tags["val/acc"]] == [8, 16]


def test_a_symlinked_tb_folder_is_refused_on_resume(cli, tiny_config: Path,
                                                    tmp_path: Path) -> None:
    run = tmp_path / "runs" / "linked"
    assert cli("train", tiny_config, "--run-dir", run, "--progress", "none",
               "train.stop_after_steps=3").exit_code == 130
    outside = tmp_path / "outside"
    (run / "tb").rename(outside)
    (run / "tb").symlink_to(outside)
    before = sorted(p.name for p in outside.iterdir())
    result = cli("train", run / "config.yaml", "--resume", run, "--progress", "none")
    assert result.exit_code == 1
    assert f"{run / 'tb'} is a symbolic link or not a folder" in result.output
    assert sorted(p.name for p in outside.iterdir()) == before


def test_tensorboardx_is_imported_without_pytorch() -> None:
    """Its optional PyTorch import (a second at every run's start) is skipped, and undone after."""
    code = ("import sys; from trainer.tensorboard import _import_tensorboardx; "
            "_import_tensorboardx(); print('tensorboardX' in sys.modules, 'torch' in sys.modules)")
    pytest.importorskip("tensorboardX")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_a_broken_tensorboardx_is_skipped_in_auto_mode(tmp_path) -> None:
    """An installed tensorboardX that fails to import costs the run its tb/, not the run."""
    import subprocess
    import sys

    fake = tmp_path / "site" / "tensorboardX"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('broken install')\n")
    code = "from trainer.tensorboard import available; print(available())"
    env = {"PYTHONPATH": f"{tmp_path / 'site'}:{Path(__file__).resolve().parents[2]}",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip() == "False"
