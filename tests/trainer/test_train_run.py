"""A whole tiny run: files written, eval agrees with the run's metrics, `trainer runs` lists it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from trainer import checkpoint as ckpt_io
from trainer import config


def test_run_writes_everything_and_eval_agrees(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "log", "train.plot=true",
                 "train.keep_last=1", "train.epochs=3")
    assert result.exit_code == 0, result.output
    for name in ("config.yaml", "meta.json", "train.log", "metrics.csv", "metrics.jsonl",
                 "checkpoints/last/model.safetensors", "checkpoints/last/optimizer.safetensors",
                 "checkpoints/last/state.json", "checkpoints/best/state.json",
                 "checkpoints/epoch-0003/state.json"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints" / "epoch-0002").exists()  # keep_last=1
    meta = json.loads((run / "meta.json").read_text())
    assert meta["seed"] == 3 and meta["device"] == "cpu"
    assert set(meta["dataset_checksums"]) == {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert all(0 <= r["val_acc"] <= 1 and r["lr"] > 0 and r["samples_per_s"] > 0 for r in epochs)
    assert [r["kind"] for r in rows].count("step") == 8 * 3 // 3  # 8 steps/epoch, every 3rd
    test_acc = [r for r in rows if r["kind"] == "test"][-1]["test_acc"]
    assert meta["result"]["test_acc"] == test_acc
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("kind,epoch,step,train_loss") and len(lines) == len(rows) + 1
    best = json.loads((run / "checkpoints" / "best" / "state.json").read_text())
    assert best["epoch"] == meta["result"]["best_epoch"]
    # The stored config reproduces the run and is the resolved one.
    stored = config.load(run / "config.yaml")
    assert stored.train.epochs == 3 and stored.data.normalize == [0.5, 0.25]

    result = cli("eval", run)
    assert result.exit_code == 0, result.output
    report = json.loads((run / "eval.json").read_text())
    assert report["acc"] == test_acc and report["count"] == 100
    assert sum(map(sum, report["confusion"])) == 100
    assert f"{test_acc:.4f}" in result.output

    listing = cli("runs", tmp_path / "runs")
    assert listing.exit_code == 0
    assert "r1" in listing.output and "mlp" in listing.output
    assert f"{test_acc:.4f}" in listing.output


def test_print_config_round_trip(cli, tiny_config: Path, tmp_path: Path) -> None:
    first = cli("train", tiny_config, "optimizer.lr=1e-3", "--print-config")
    assert first.exit_code == 0
    assert yaml.safe_load(first.output)["optimizer"]["lr"] == 0.001
    saved = tmp_path / "resolved.yaml"
    saved.write_text(first.output)
    second = cli("train", saved, "--print-config")
    assert second.output == first.output
    assert not (tmp_path / "runs").exists()  # printing the config starts no run


def test_last_old_is_used_when_last_is_missing(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r2"
    assert cli("train", tiny_config, "--run-dir", run, "--progress", "none",
               "train.epochs=1").exit_code == 0
    last = run / "checkpoints" / "last"
    last.rename(run / "checkpoints" / "last.old")  # as if killed between the swap's renames
    ckpt = ckpt_io.load_checkpoint(run)
    assert ckpt["path"].name == "last.old" and ckpt["state"]["epoch"] == 1


def test_run_dir_is_never_reused(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "same"
    for _ in range(2):
        assert cli("train", tiny_config, "--run-dir", run, "--progress", "none",
                   "train.max_steps=2").exit_code == 0
    assert (tmp_path / "runs" / "same-1" / "config.yaml").is_file()


def test_early_stopping_and_plateau(cli, tiny_config: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "plateau.yaml"
    cfg.write_text(tiny_config.read_text().split("scheduler:")[0] + (
        "scheduler: {name: plateau, patience: 0, factor: 0.5}\n"
        f"train: {{epochs: 5, patience: 1, min_delta: 10, plot: false, out_dir: {tmp_path}}}\n"))
    run = tmp_path / "es"
    result = cli("train", cfg, "--run-dir", run, "--progress", "none", "optimizer.name=sgd",
                 "optimizer.momentum=0.9", "optimizer.lr=0.05", "train.grad_clip=1.0")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    # min_delta 10 means no epoch after the first counts as better: stop after epoch 2.
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert json.loads((run / "meta.json").read_text())["result"]["status"] == "early_stopped"
    state = json.loads((run / "checkpoints" / "last" / "state.json").read_text())
    assert state["train"]["bad_epochs"] == 1 and state["train"]["best_epoch"] == 1
    assert state["scheduler"]["best"] == epochs[-1]["val_acc"] or state["scheduler"]["best"] > 0
    stored = config.load(run / "config.yaml")
    assert stored.optimizer.kwargs["momentum"] == 0.9 and stored.train.grad_clip == 1.0
