"""A damaged checkpoint is refused by resume before any file of the run changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from folder_snapshot import run_files

import engine
from trainer.runs import METRIC_COLUMNS, RunDir


@pytest.fixture
def stopped_run(cli, tiny_config: Path, tmp_path: Path) -> Path:
    """A run interrupted mid-epoch 2 (step 11 of 8 per epoch), with metrics rows to drop."""
    run = tmp_path / "runs" / "stopped"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none",
                 "train.stop_after_steps=11", "train.checkpoint_every_steps=10")
    assert result.exit_code == 130, result.output
    return run


def _set(path: str, value):
    """An edit of state.json that sets the dotted path to value."""
    def edit(state: dict) -> dict:
        *parents, leaf = path.split(".")
        node = state
        for key in parents:
            node = node[key]
        node[leaf] = value
        return state
    return edit


STATE_CASES = [
    (_set("step", "11"), "'step' must be a non-negative integer, got '11'"),
    (_set("step", -1), "'step' must be a non-negative integer, got -1"),
    (_set("epoch", 1.5), "'epoch' must be a non-negative integer, got 1.5"),
    (_set("train.step", "10"), "'train.step' must be a non-negative integer"),
    (_set("train.step", 9), "'train.step' (9) differs from 'step' (11)"),
    (_set("train.finished", "no"), "'train.finished' must be true or false"),
    (_set("train.sums", [1, 2]), "'train.sums' must be an object"),
    (_set("train.sums.count", "many"), "'train.sums.count' must be a finite number"),
    (_set("train", []), "'train' must be an object"),
    (_set("rng", [1, 2, 3]), "'rng' must be a PCG64 state"),
    (_set("rng.state", {"state": "x", "inc": 1}), "'rng.state' must hold non-negative integers"),
    (_set("rng.state", {"inc": 1}), "'rng' is not a valid generator state"),
    (_set("loader.position", 10**6), "'loader.position' is 1000000 but an epoch has 8 batches"),
    (_set("loader.position", -2), "'loader.position' must be a non-negative integer"),
    (_set("loader", None), "'loader' must be an object"),
    (_set("scheduler.last_epoch", "x"), "'scheduler.last_epoch' is 'x', expected a value like"),
    (_set("train.best_epoch", 99), "'train.best_epoch' must be null or an epoch in 0..1"),
    (lambda s: [s], "it holds a list, not an object"),
]


@pytest.mark.parametrize(("edit", "message"), STATE_CASES,
                         ids=[m.split("'")[1] if "'" in m else m for _, m in STATE_CASES])
def test_bad_state_json_is_refused_before_any_write(cli, stopped_run: Path, edit,
                                                    message: str) -> None:
    state_file = stopped_run / "checkpoints" / "last" / "state.json"
    state_file.write_text(json.dumps(edit(json.loads(state_file.read_text()))))
    before = run_files(stopped_run)
    result = cli("train", stopped_run / "config.yaml", "--resume", stopped_run)
    assert result.exit_code == 1, result.output
    out = result.output.strip()
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    assert f"{state_file} is damaged: {message}" in out, out
    assert run_files(stopped_run) == before  # config.yaml rewritten, metrics rows dropped: no


def _edit_optimizer(run: Path, edit) -> Path:
    file = run / "checkpoints" / "last" / "optimizer.safetensors"
    engine.save(edit(engine.load(file)), file)
    return file


def _group(key: str, value):
    def edit(state: dict) -> dict:
        state["param_groups"][0][key] = value
        return state
    return edit


def _exp_avg_of_first(value):
    def edit(state: dict) -> dict:
        state["state"][0]["exp_avg"] = value
        return state
    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (_group("lr", "fast"), "param_groups[0].lr must be a finite number, got 'fast'"),
    (_group("lr", float("nan")), "param_groups[0].lr must be a finite number, got nan"),
    (_group("eps", -1.0), "param_groups[0].eps is negative (-1.0)"),
    (_group("betas", (0.9,)), "'param_groups[0].betas' is (0.9,), expected a value like"),
    (_exp_avg_of_first(engine.zeros(3)), "optimizer state 'exp_avg' of parameter 0 has shape"),
    (lambda s: {"state": {}, "param_groups": []}, "0 parameter group(s), the optimizer has 1"),
])
def test_bad_optimizer_state_is_refused_before_any_write(cli, stopped_run: Path, edit,
                                                         message: str) -> None:
    file = _edit_optimizer(stopped_run, edit)
    before = run_files(stopped_run)
    result = cli("train", stopped_run / "config.yaml", "--resume", stopped_run)
    assert result.exit_code == 1, result.output
    out = result.output.strip()
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    assert f"{file} does not match the optimizer built from the config" in out and message in out
    assert run_files(stopped_run) == before


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler cleans up."""


def test_a_kill_while_resume_rewrites_the_metrics_loses_no_file(tmp_path: Path,
                                                                monkeypatch) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.append_metrics(*({"kind": "step", "epoch": 1, "step": s, "train_loss": 1.0 / s}
                         for s in range(1, 11)))
    jsonl_before = (run.path / "metrics.jsonl").read_bytes()
    real_open = open

    def dying_open(file, mode="r", *args, **kwargs):
        if "metrics" in str(file) and any(c in mode for c in "wa"):
            raise _Killed  # the process dies as the rewrite begins
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", dying_open)
    with pytest.raises(_Killed):
        run.truncate_metrics(5)
    monkeypatch.undo()
    assert (run.path / "metrics.jsonl").read_bytes() == jsonl_before
    run.truncate_metrics(5)
    assert [r["step"] for r in run.read_metrics()] == [1, 2, 3, 4, 5]
    csv_lines = (run.path / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(METRIC_COLUMNS) and len(csv_lines) == 6


def test_damaged_metrics_rows_do_not_break_resume(cli, stopped_run: Path) -> None:
    with open(stopped_run / "metrics.jsonl", "a") as f:
        f.write('{"kind": "step", "step": "12"}\n[1, 2]\n{"kind": "step"}\n')
    result = cli("train", stopped_run / "config.yaml", "--resume", stopped_run, "--progress",
                 "none")
    assert result.exit_code == 0, result.output
    steps = [r["step"] for r in RunDir(stopped_run).read_metrics()]
    assert steps == sorted(steps) and all(isinstance(s, int) for s in steps)
