"""eval and export without a run: the newest finished run, `latest` and `best`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.errors import CheckpointError
from trainer.run_pick import pick_run, split_target


def _fake_run(parent: Path, name: str, finished: str, vals: list[float], monitor: str = "val_acc",
              status: str = "finished") -> Path:
    """A run folder written by hand: config.yaml, meta.json's result and epoch rows."""
    run = parent / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"train": {"monitor": monitor,
                                                               "mode": "auto"}}))
    (run / "meta.json").write_text(json.dumps({"result": {"status": status,
                                                          "finished": finished}}))
    rows = [{"kind": "epoch", "epoch": i + 1, "step": i, monitor: v} for i, v in enumerate(vals)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def _best_val_acc(run: Path) -> float:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return max(r["val_acc"] for r in rows if r["kind"] == "epoch")


def test_latest_is_the_last_finished_and_unfinished_runs_are_skipped(tmp_path: Path) -> None:
    old = _fake_run(tmp_path, "b-old", "2026-01-01T10:00:00", [0.9])
    new = _fake_run(tmp_path, "a-new", "2026-01-02T10:00:00", [0.5])
    _fake_run(tmp_path, "c-running", "2026-01-03T10:00:00", [0.99], status="running")
    assert pick_run(None, tmp_path) == (new, "newest finished")
    assert pick_run("latest", tmp_path) == (new, "newest finished")
    assert pick_run("best", tmp_path) == (old, "best val_acc 0.9000 of 2 finished")
    assert pick_run(str(old), tmp_path) == (old, None)  # a path is itself


def test_best_follows_the_monitor_mode_and_sweep_members_count(tmp_path: Path) -> None:
    _fake_run(tmp_path, "r1", "2026-01-01T10:00:00", [0.7, 0.4], monitor="val_loss")
    member = _fake_run(tmp_path / "sweep-x", "00-lr=1", "2026-01-02T10:00:00", [0.6, 0.3],
                       monitor="val_loss")
    (tmp_path / "sweep-x" / "sweep.json").write_text("{}")
    # val_loss is minimised: 0.3 beats 0.4
    assert pick_run("best", tmp_path) == (member, "best val_loss 0.3000 of 2 finished")


def test_no_finished_runs_is_one_clear_error(tmp_path: Path) -> None:
    _fake_run(tmp_path, "r1", "2026-01-01T10:00:00", [0.5], status="running")
    with pytest.raises(CheckpointError, match=rf"^no finished runs in {tmp_path}; train one first: "
                       r"trainer train configs/smoke\.yaml$"):
        pick_run(None, tmp_path)
    with pytest.raises(CheckpointError, match="no finished runs in"):
        pick_run("best", tmp_path / "missing")


def test_a_key_value_in_the_target_place_is_an_override(tmp_path: Path) -> None:
    assert split_target("data.root=/d", ["a=1"]) == (None, ["data.root=/d", "a=1"])
    assert split_target("runs/x", ["a=1"]) == ("runs/x", ["a=1"])
    odd = tmp_path / "x=1"
    odd.mkdir()
    assert split_target(str(odd), []) == (str(odd), [])  # an existing folder stays the target


def test_eval_and_export_default_to_the_newest_run_and_best_to_the_better(
        cli, tiny_config: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    empty = cli("eval", "--runs-dir", runs)
    assert empty.exit_code == 1
    assert empty.stderr == (f"error: no finished runs in {runs}; train one first: trainer train "
                            "configs/smoke.yaml\n")
    # The older run learns faster (higher lr): best and latest are different runs.
    for name, lr in (("a", "0.005"), ("b", "0.0005")):
        result = cli("train", tiny_config, "--run-dir", runs / name, "--progress", "none",
                     "train.epochs=1", f"optimizer.lr={lr}")
        assert result.exit_code == 0, result.output
    better, newer = runs / "a", runs / "b"
    assert _best_val_acc(better) > _best_val_acc(newer)

    result = cli("eval", "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"using run {newer} (newest finished)\n"
    assert (newer / "eval.json").is_file() and not (better / "eval.json").exists()
    result = cli("eval", "data.eval_batch_size=16", "--runs-dir", runs)  # no run, an override
    assert result.exit_code == 0, result.output
    assert result.stderr == f"using run {newer} (newest finished)\n"

    result = cli("eval", "best", "--runs-dir", runs, "--split", "val")
    assert result.exit_code == 0, result.output
    assert result.stderr == (f"using run {better} (best val_acc {_best_val_acc(better):.4f} of 2 "
                             "finished)\n")
    report = json.loads((better / "eval.json").read_text())
    assert report["split"] == "val" and report["run"] == str(better)

    result = cli("export", "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {newer / 'export' / 'model-last.safetensors'}\n"
    assert not (better / "export").exists()
    result = cli("export", "best", "--runs-dir", runs, "--checkpoint", "best")
    assert result.exit_code == 0, result.output
    assert (better / "export" / "model-best.safetensors").stat().st_size > 0


def test_best_value_skips_a_diverged_runs_nan() -> None:
    from trainer.run_pick import best_value

    rows = [{"kind": "epoch", "val_loss": float("nan")}, {"kind": "epoch", "val_loss": 0.5},
            {"kind": "epoch", "val_loss": float("inf")}]
    assert best_value(rows, "val_loss", "min") == 0.5
    assert best_value(rows[:1], "val_loss", "min") is None  # only NaN: never picked as best
