"""SIGINT at any moment of `trainer train` (imports, parsing, setup, training) exits 130 quietly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs `python -m trainer.cli ARGS` and sends SIGINT DELAY seconds after the CLI module took
# SIGINT over (its first statements). Before that the interpreter's own start, runpy and the
# two-line trainer/__init__ run, which no handler of the project's can cover.
_LAUNCH = """
import os, runpy, signal, sys, threading, time
delay = float(sys.argv[1])
def fire():
    while signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        time.sleep(0.0005)
    time.sleep(delay)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=fire, daemon=True).start()
sys.argv = ["trainer", *sys.argv[2:]]
runpy.run_module("trainer.cli", run_name="__main__", alter_sys=True)
"""


def _train_interrupted(delay: float, config: Path, run: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", _LAUNCH, str(delay), "train", str(config),
                           "--run-dir", str(run), "--progress", "none", "train.epochs=50"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("delay", [0.0, 0.001, 0.003, 0.01, 0.03, 0.06, 0.12, 0.25, 0.5])
def test_sigint_early_exits_130_without_traceback(tiny_config: Path, tmp_path: Path,
                                                  delay: float) -> None:
    run = tmp_path / "runs" / "early"
    result = _train_interrupted(delay, tiny_config, run)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr
    assert "interrupted" in result.stderr
    # Interrupted during setup: no half-made run folder; during training: a resumable one.
    assert not run.exists() or (run / "checkpoints" / "last").is_dir()


def test_sigint_at_the_command_line_exits_130(tiny_config: Path, tmp_path: Path) -> None:
    """The plain program, interrupted as soon as it reports its run folder."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "trainer.cli", "train", str(tiny_config),
                             "--run-dir", str(tmp_path / "runs" / "x"), "--progress", "log",
                             "train.epochs=50"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert "run directory" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
