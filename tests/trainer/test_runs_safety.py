"""Run folders: one writer at a time, no writes through symbolic links, damaged runs listed."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from test_kill import ARGS, _start, _wait_for_checkpoint

from engine.errors import CheckpointError
from trainer.runs import RunDir


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_a_second_writer_of_a_run_exits_2_naming_the_holder(cli, tiny_config: Path,
                                                            tmp_path: Path) -> None:
    run = tmp_path / "runs" / "busy"
    holder = _start(["train", str(tiny_config), "--run-dir", str(run), *ARGS])
    try:
        _wait_for_checkpoint(run, holder)
        for args in (("train", tiny_config, "--run-dir", run),
                     ("train", run / "config.yaml", "--resume", run, "train.epochs=1000")):
            result = cli(*args, "--progress", "none")
            assert result.exit_code == 2, result.output
            assert f"{run} is in use by another trainer process (pid {holder.pid})" in \
                result.output
        assert not (tmp_path / "runs" / "busy-1").exists()  # no second folder either
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    # the dead holder's lock does not block: the run continues
    result = cli("train", run / "config.yaml", "--resume", run, "--progress", "none",
                 "train.epochs=1000", "train.stop_after_steps=2")
    assert result.exit_code == 130, result.output


def test_a_lock_held_in_this_process_is_also_refused(cli, tiny_config: Path,
                                                     tmp_path: Path) -> None:
    run = tmp_path / "runs" / "mine"
    assert cli("train", tiny_config, "--run-dir", run, "--progress", "none",
               "train.stop_after_steps=3").exit_code == 130
    held = RunDir.open(run)
    held.lock()
    try:
        result = cli("train", run / "config.yaml", "--resume", run)
        assert result.exit_code == 2 and "is in use by another trainer process" in result.output
    finally:
        held.release()
    assert cli("train", run / "config.yaml", "--resume", run, "--progress",
               "none").exit_code == 0


@pytest.mark.parametrize("name", ["train.log", "metrics.jsonl", "metrics.csv", "meta.json"])
def test_a_symlinked_run_file_is_refused_not_written_through(cli, tiny_config: Path,
                                                             tmp_path: Path, name: str) -> None:
    run = tmp_path / "runs" / "linked"
    assert cli("train", tiny_config, "--run-dir", run, "--progress", "none",
               "train.stop_after_steps=3").exit_code == 130
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    (run / name).unlink()
    (run / name).symlink_to(outside)
    before = _files(run)
    result = cli("train", run / "config.yaml", "--resume", run, "--progress", "none")
    assert result.exit_code == 1
    assert f"{run / name} is a symbolic link" in result.output
    assert outside.read_text() == "precious\n" and _files(run) == before


def test_appends_never_follow_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    (run.path / "train.log").symlink_to(outside)
    with pytest.raises(CheckpointError, match="train.log is a symbolic link"):
        run.log("hello")
    (run.path / "metrics.jsonl").symlink_to(outside)
    with pytest.raises(CheckpointError, match="metrics.jsonl is a symbolic link"):
        run.append_metrics({"kind": "step", "step": 1})
    assert outside.read_text() == "precious\n"


def test_runs_marks_damaged_runs_and_lists_the_rest(cli, tiny_config: Path,
                                                    tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    good = runs / "good"
    assert cli("train", tiny_config, "--run-dir", good, "--progress", "none",
               "train.epochs=1").exit_code == 0
    damaged = {
        "badyaml": {"config.yaml": "model: [1, 2\n"},
        "listcfg": {"config.yaml": "- a\n- b\n"},
        "bomb": {"config.yaml": "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"},
        "badmeta": {"config.yaml": "model: {name: mlp}\n", "meta.json": "[1, 2]"},
        "badrows": {"config.yaml": "model: {name: 5}\ntrain: {epochs: x}\n",
                    "metrics.jsonl": '{"kind": "epoch", "val_acc": "high"}\n[1]\n'
                                     '{"kind": "test", "test_acc": null}\n'},
    }
    for name, files in damaged.items():
        (runs / name).mkdir()
        for file, text in files.items():
            (runs / name / file).write_text(text)
    meta = json.loads((good / "meta.json").read_text())
    result = cli("runs", runs)
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines()
             if len(line.split()) > 1 and line.split()[1] in {"good", *damaged}}
    assert set(lines) == {"good", *damaged}
    assert "damaged" not in lines["good"] and meta["result"]["status"] in lines["good"]
    for name in damaged:
        assert "damaged" in lines[name], result.output


def test_run_names_are_shown_verbatim(cli, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "[red]odd").mkdir(parents=True)
    (runs / "[red]odd" / "config.yaml").write_text("model: {name: mlp}\n")
    result = cli("runs", runs)
    assert result.exit_code == 0, result.output
    assert "[red]odd" in result.output


def test_run_dir_that_is_a_file_is_refused(cli, tiny_config: Path, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep\n")
    result = cli("train", tiny_config, "--run-dir", target, "--progress", "none")
    assert result.exit_code == 2
    assert f"--run-dir {target} exists and is not a folder" in result.output
    assert target.read_text() == "keep\n" and not (tmp_path / "a-file-1").exists()


@pytest.mark.parametrize("name", ["metrics.jsonl", "meta.json", "train.log",
                                  "checkpoints/last/state.json"])
def test_a_fifo_in_a_run_is_refused_without_blocking(cli, tiny_config: Path, tmp_path: Path,
                                                     name: str) -> None:
    run = tmp_path / "runs" / "fifo"
    assert cli("train", tiny_config, "--run-dir", run, "--progress", "none",
               "train.stop_after_steps=3").exit_code == 130
    (run / name).unlink()
    os.mkfifo(run / name)  # reading it would wait for a writer forever
    result = cli("train", run / "config.yaml", "--resume", run, "--progress", "none")
    assert result.exit_code == 1
    assert f"{run / name} is not a regular file" in result.output
    if name != "checkpoints/last/state.json":
        listing = cli("runs", tmp_path / "runs")
        assert listing.exit_code == 0 and "fifo" in listing.output


def test_two_starts_racing_for_one_run_dir_leave_one_writer(tiny_config: Path,
                                                             tmp_path: Path) -> None:
    run = tmp_path / "runs" / "raced"
    # 1000 steps keep the winner training ~0.6 s after it claims the folder: on a loaded machine
    # the second start can reach its claim that much later (with 60 steps the first had once
    # finished by then, and the second rightly made raced-1)
    procs = [_start(["train", str(tiny_config), "--run-dir", str(run), "--progress", "none",
                     "train.epochs=1000", "train.stop_after_steps=1000"]) for _ in range(2)]
    outs = [(p.wait(120), p.stdout.read()) for p in procs]
    for p in procs:
        p.stdout.close()
    assert sorted(code for code, _ in outs) == [2, 130], outs
    assert "is in use by another trainer process" in next(o for c, o in outs if c == 2)
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == len(set(rows)) and not (tmp_path / "runs" / "raced-1").exists()


@pytest.mark.parametrize("where", ["lock", "checkpoints"])
def test_ctrl_c_while_a_run_folder_is_made_removes_it(tmp_path: Path, where: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt inside RunDir.create leaves no empty folder behind, and a folder it
    did not make (an empty --run-dir it claims) stays."""
    from trainer import run_lock

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    if where == "lock":
        monkeypatch.setattr(run_lock, "acquire", interrupt)
    else:
        real_mkdir = Path.mkdir
        monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: interrupt() if
                            self.name == "checkpoints" else real_mkdir(self, *a, **k))
    with pytest.raises(KeyboardInterrupt):
        RunDir.create(tmp_path / "runs", "tiny")
    assert list((tmp_path / "runs").iterdir()) == []
    (tmp_path / "mine").mkdir()
    with pytest.raises(KeyboardInterrupt):
        RunDir.create(tmp_path, "tiny", exact=tmp_path / "mine")
    assert (tmp_path / "mine").is_dir()
