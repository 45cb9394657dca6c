"""Acceptance 5: SIGKILL at random moments always leaves a loadable `last`; SIGINT exits 130."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from trainer import checkpoint as ckpt_io

ROOT = Path(__file__).resolve().parents[2]


def _start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # 20 starts: compile the sources once, not 20 times
    # Two runs share the cores: spinning BLAS threads would slow each other down a hundredfold.
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    return subprocess.Popen([sys.executable, "-m", "trainer.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _step(run: Path) -> int:
    """The step of the newest complete checkpoint, -1 if none (tolerates a swap in progress)."""
    for name in ("last", "last.old"):
        try:
            return json.loads((run / "checkpoints" / name / "state.json").read_text())["step"]
        except (OSError, ValueError):
            continue
    return -1


def _wait_for_checkpoint(run: Path, proc: subprocess.Popen, after: int = -1,
                         timeout: float = 60) -> None:
    """Wait until proc has written a checkpoint with a step beyond `after`."""
    deadline = time.monotonic() + timeout
    while _step(run) <= after:
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.005)


# Every step writes `last` (and a long run), so kills land inside checkpoint writes often.
ARGS = ["train.epochs=1000", "train.checkpoint_every_steps=1", "train.keep_last=1",
        "--progress", "none"]


def _kill_chain(config: Path, run: Path, trials: int, seed: int) -> list[int]:
    """Start a run, SIGKILL it at a random moment, check `last`, resume it; repeat."""
    rng = random.Random(seed)
    steps: list[int] = []
    for trial in range(trials):
        had_metrics = (run / "metrics.jsonl").exists()  # resume rewrites it: never lose it
        if trial == 0:
            proc = _start(["train", str(config), "--run-dir", str(run), *ARGS])
        else:  # resume the killed run: a killed run can always be continued
            proc = _start(["train", str(run / "config.yaml"), "--resume", str(run), *ARGS])
        try:
            _wait_for_checkpoint(run, proc, after=steps[-1] if steps else -1)
            time.sleep(rng.uniform(0, 0.25))  # then kill at a random point, often mid-write
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        assert not had_metrics or (run / "metrics.jsonl").exists(), f"trial {trial}"
        ckpt = ckpt_io.load_checkpoint(run)
        assert len(ckpt["model"]) == 4 and ckpt["state"]["step"] >= 1
        steps.append(ckpt["state"]["step"])
    return steps


def test_sigkill_always_leaves_a_loadable_last(tiny_config: Path, tmp_path: Path) -> None:
    # Two chains of 10 kills run side by side to keep the test's wall time down.
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_kill_chain, tiny_config, tmp_path / "runs" / f"killed-{i}", 10, i)
                   for i in range(2)]
        chains = [f.result() for f in futures]
    for steps in chains:
        assert len(steps) == 10
        assert all(b > a for a, b in zip(steps, steps[1:], strict=False))  # progress never lost


def test_sigint_writes_last_and_exits_130(tiny_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "interrupted"
    proc = _start(["train", str(tiny_config), "--run-dir", str(run), *ARGS])
    _wait_for_checkpoint(run, proc)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, out
    assert f"--resume {run}" in out
    state = json.loads((run / "checkpoints" / "last" / "state.json").read_text())
    assert state["step"] >= 1
    ckpt_io.load_checkpoint(run)
