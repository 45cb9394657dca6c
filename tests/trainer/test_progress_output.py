"""What `trainer train` prints: --progress none keeps the result lines, --quiet prints nothing."""

from __future__ import annotations

import json
from pathlib import Path


def _result_lines(run: Path) -> list[str]:
    result = json.loads((run / "meta.json").read_text())["result"]
    return [f"test: loss {result['test_loss']:.4f} | acc {result['test_acc']:.4f}", f"done: {run}"]


def test_progress_none_prints_the_result_lines_that_log_ends_with(
        cli, tiny_config: Path, tmp_path: Path) -> None:
    logged, silent = tmp_path / "runs" / "log", tmp_path / "runs" / "none"
    log = cli("train", tiny_config, "--run-dir", logged, "--progress", "log", "train.epochs=1")
    none = cli("train", tiny_config, "--run-dir", silent, "--progress", "none", "train.epochs=1")
    assert log.exit_code == 0 and none.exit_code == 0, log.output + none.output
    assert log.stdout.splitlines()[0] == f"run directory {logged}"
    assert log.stdout.splitlines()[-2:] == _result_lines(logged)
    assert none.stdout.splitlines() == _result_lines(silent)  # no progress, only the result
    assert none.stderr == ""
    # the same seed and data: the two runs' results agree, so the lines differ only in the path
    assert _result_lines(logged)[0] == _result_lines(silent)[0]
    assert (silent / "train.log").read_text().splitlines()[-1].endswith(f"done: {silent}")


def test_quiet_prints_nothing_but_errors(cli, tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "q"
    result = cli("train", tiny_config, "--run-dir", run, "--quiet", "--progress", "log",
                 "train.epochs=1")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    assert json.loads((run / "meta.json").read_text())["result"]["status"] == "finished"
    assert (run / "train.log").read_text().splitlines()[-1].endswith(f"done: {run}")  # logged

    bad = cli("train", tiny_config, "-q", "optimizer.lr=-1")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr == ("error: override 'optimizer.lr=-1': optimizer.lr: expected a number > "
                          "0.0, got -1\n")
