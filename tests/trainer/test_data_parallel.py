"""`mpiexec -n 2 trainer train`: one process's result on both batches, one run folder written by
rank 0, exact resume on 2 ranks only, and a dead or stuck rank stopping the other."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mpi_launch import ROOT, mpi_env, mpiexec, needs_mpi

import engine
from engine.errors import CheckpointError
from trainer import checkpoint as ckpt_io
from trainer import config as config_mod
from trainer import parallel
from trainer.run_lock import LOCK_FILE

SMOKE = ROOT / "configs" / "smoke.yaml"
# The smoke run, smaller: 800 train images (13 steps of 2 x 32 an epoch), no plot.
SMALL = ["data.synthetic_train=1000", "data.synthetic_test=200", "data.batch_size=32",
         "train.plot=false", "train.tensorboard=false"]


def launch(args: list[str], cwd: Path, ranks: int = 2, flags: tuple[str, ...] = (),
           **env: str) -> subprocess.Popen:
    cmd = [mpiexec(), *flags, "-n", str(ranks), sys.executable, "-m", "trainer.cli", *args]
    return subprocess.Popen(cmd, cwd=cwd, env=mpi_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def train(args: list[str], cwd: Path, expect: int = 0, **env: str) -> str:
    proc = launch(["train", *args], cwd, **env)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == expect, out[-3000:]
    return out


def flat(obj: object, prefix: str = "") -> dict[str, object]:
    """A loaded state dict as {dotted path: array or plain value}."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    else:
        return {prefix: obj.numpy() if hasattr(obj, "numpy") else obj}
    out: dict[str, object] = {}
    for key, value in items:
        out.update(flat(value, f"{prefix}.{key}"))
    return out


def test_rank_view_refuses_every_write(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text('{"seed": 3}')
    view = parallel.RankView(tmp_path, 1)
    assert view.read_meta() == {"seed": 3} and view.checkpoints == tmp_path / "checkpoints"
    for name, args in (("log", ("x",)), ("append_metrics", ({},)), ("write_meta", ({},)),
                       ("write_config", ("",)), ("truncate_metrics", (0,))):
        with pytest.raises(RuntimeError, match=rf"rank 1 tried to write the run directory "
                                               rf"\({name}\); only rank 0 writes it"):
            getattr(view, name)(*args)
    view.release()
    view.discard_unstarted()  # rank 0's folder: left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_world_size_check_names_the_count(tmp_path: Path) -> None:
    def ckpt(state: dict) -> dict:
        return {"path": tmp_path / "last", "state": state}

    with pytest.raises(CheckpointError, match=r"last was written by 2 process\(es\), this run "
                                              r"has 1: resume it with mpiexec -n 2"):
        parallel.check_world(ckpt({"world_size": 2}), 1)
    with pytest.raises(CheckpointError, match=r"written by 1 process\(es\), this run has 2: "
                                              "resume it without mpiexec"):
        parallel.check_world(ckpt({}), 2)
    loader = {"epoch": 1, "position": 3, "seed": 5}
    with pytest.raises(CheckpointError, match="'ranks' must list the state of each of the 2"):
        parallel.check_world(ckpt({"world_size": 2, "loader": loader, "ranks": [{}]}), 2)
    rng = engine.get_rng_state()
    behind = {"rng": rng, "loader": {**loader, "position": 2}}
    with pytest.raises(CheckpointError, match=r"'ranks\[1\].loader.position' is 2 but rank 0's "
                                              "is 3; the ranks step together"):
        parallel.check_world(ckpt({"world_size": 2, "loader": loader,
                                   "ranks": [{"rng": rng, "loader": loader}, behind]}), 2)


@pytest.mark.mpi
@needs_mpi
def test_two_ranks_train_as_one_process_on_both_batches(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Acceptance 1: identical weights on both ranks, equal to one process stepping on the two
    ranks' batches put together; rank 0 alone writes, into one run folder."""
    cwd, runs = tmp_path / "cwd", tmp_path / "runs"
    cwd.mkdir()
    # Plain SGD: unlike Adam's, its step shows a gradient summed instead of averaged.
    overrides = [*SMALL, f"train.out_dir={runs}", "train.max_steps=5", "train.epochs=1",
                 "optimizer.name=sgd", "optimizer.lr=0.5"]
    out = train([str(SMOKE), *overrides, "--progress", "log"], cwd)
    assert list(cwd.iterdir()) == []  # neither rank wrote where it ran
    (run,) = runs.iterdir()  # one run folder
    assert out.count("data-parallel on 2 processes") == 1  # rank 0 alone prints
    log = (run / "train.log").read_text()
    digest = re.search(r"weights identical on all 2 ranks: sha256 ([0-9a-f]{64})", log).group(1)
    last = run / "checkpoints" / "last"
    saved = engine.load(last / ckpt_io.MODEL_FILE)
    assert parallel.weights_digest(saved) == digest  # rank 1's weights are these, bit for bit
    state = json.loads((last / "state.json").read_text())
    assert state["world_size"] == 2 and len(state["ranks"]) == 2 and state["step"] == 5

    from trainer.build import build_model, build_optimizer
    from trainer.data import build_data
    from trainer.loop import train_step

    cfg = config_mod.load(SMOKE, overrides)
    engine.manual_seed(cfg.seed)
    model = build_model(cfg)
    optimizer = build_optimizer(cfg, model.parameters())
    loaders = []
    for rank in (0, 1):  # the loaders each rank built
        monkeypatch.setattr(parallel, "placement", lambda rank=rank: (rank, 2))
        loaders.append(build_data(cfg, run).train)
    monkeypatch.undo()
    assert len(loaders[0]) == 13
    for step, (a, b) in enumerate(zip(*loaders, strict=True)):
        if step == 5:
            break
        train_step(model, optimizer, engine.cat([a[0], b[0]]), engine.cat([a[1], b[1]]), None)
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(saved[name].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)
    assert any(not np.array_equal(saved[n].numpy(), v.numpy())  # the weights moved
               for n, v in build_model(cfg).state_dict().items())


def _rank_pids(run_parent: Path, proc: subprocess.Popen, timeout: float = 120) -> list[int]:
    """The ranks' pids from rank 0's log, once a checkpoint shows training under way."""
    deadline = time.monotonic() + timeout
    while True:
        logs = list(run_parent.glob("*/train.log"))
        text = logs[0].read_text() if logs else ""
        found = re.findall(r"rank (\d) pid (\d+)", text)
        if found and list(run_parent.glob("*/checkpoints/last")):
            return [int(pid) for _, pid in sorted(found)]
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] not in "ZX"
    except OSError:
        return False


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize(("flags", "sig", "message"), [
    ((), signal.SIGKILL, r"BAD TERMINATION.*Killed \(signal 9\)"),  # mpiexec ends the other
    ((), signal.SIGSTOP, r"error: \w+ timed out after 5 s on rank 0 of 2: another rank died, "
                         "hangs or is far behind"),
    # Ctrl-C reaching rank 1 alone: both stop after the same step, rank 0 saying why.
    ((), signal.SIGINT, r"interrupted \(SIGINT to rank 1\) at step \d+; checkpoint "),
], ids=["kill", "stop", "int"])
def test_a_dead_or_stuck_rank_stops_the_other(tmp_path: Path, flags: tuple[str, ...],
                                              sig: signal.Signals, message: str) -> None:
    """Acceptance 2: rank 1 killed (or stopped, or interrupted) mid-training: the job exits
    non-zero with a clear message within 60 s, and rank 0's last checkpoint still loads."""
    runs = tmp_path / "runs"
    proc = launch(["train", str(SMOKE), *SMALL, f"train.out_dir={runs}", "train.epochs=1000",
                   "--progress", "log"], tmp_path, flags=flags, TRAINER_DIST_TIMEOUT="5")
    try:
        pids = _rank_pids(runs, proc)
        start = time.monotonic()
        os.kill(pids[1], sig)
        out, _ = proc.communicate(timeout=60)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0 and elapsed < 60
    assert re.search(message, out, re.S), out[-3000:]
    for _ in range(100):  # the launcher reaps the ranks just after it exits
        if not any(_alive(p) for p in pids):
            break
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)
    (run,) = runs.iterdir()
    assert ckpt_io.load_checkpoint(run, "last")["state"]["world_size"] == 2


@pytest.mark.mpi
@needs_mpi
def test_resume_on_two_ranks_is_bit_identical(tmp_path: Path, cli: object) -> None:
    """Acceptance 3: stopped mid-epoch and resumed from `last` on 2 ranks = never stopped;
    a resume on another number of processes is refused, the run untouched."""
    args = [str(SMOKE), *SMALL, "train.epochs=2", "--progress", "none"]
    train([*args, f"train.out_dir={tmp_path / 'whole'}"], tmp_path)
    train([*args, f"train.out_dir={tmp_path / 'parts'}", "train.stop_after_steps=9"], tmp_path,
          expect=130)
    (whole,), (parts,) = (tmp_path / "whole").iterdir(), (tmp_path / "parts").iterdir()
    stopped = json.loads((parts / "checkpoints" / "last" / "state.json").read_text())
    assert stopped["step"] == 9 and stopped["loader"]["position"] == 9  # mid-epoch (13 steps)
    def files() -> dict[Path, int]:  # the lock file aside: taking the lock records the pid
        return {p: p.stat().st_mtime_ns for p in parts.rglob("*") if p.name != LOCK_FILE}

    before = files()
    result = cli("train", parts / "config.yaml", "--resume", parts)  # one process
    assert result.exit_code == 1
    assert "was written by 2 process(es), this run has 1: resume it with mpiexec -n 2" in \
        result.output
    assert files() == before
    train([str(parts / "config.yaml"), "--resume", str(parts), "--progress", "none"], tmp_path)
    for name in ("last", "best"):
        a, b = whole / "checkpoints" / name, parts / "checkpoints" / name
        for file in (ckpt_io.MODEL_FILE, ckpt_io.OPTIM_FILE):
            mine, theirs = flat(engine.load(a / file)), flat(engine.load(b / file))
            assert mine.keys() == theirs.keys()
            for key, value in mine.items():
                np.testing.assert_array_equal(value, theirs[key], err_msg=f"{name}/{file} {key}")
    timing = ("epoch_seconds", "samples_per_s")

    def rows(run: Path) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in timing}
                for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]

    assert rows(whole) == rows(parts)


def test_a_sweep_refuses_mpiexec(tiny_config: Path, cli: object,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMI_SIZE", "2")  # as mpiexec -n 2 sets it
    result = cli("train", tiny_config, "optimizer.lr=1e-3,3e-4", "--multirun")
    assert result.exit_code == 2
    assert "error: --multirun trains one member after another in one process; run it without " \
           "mpiexec" in result.output
    assert not (tiny_config.parent / "runs").exists()


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize(("override", "env", "said"), [
    ("optimizer.lr=-1", {}, "optimizer.lr"),
    ("optimizer.lr=0.001", {"TRAINER_DIST_TIMEOUT": "abc"},
     "error: $TRAINER_DIST_TIMEOUT='abc': expected a positive number of seconds"),
], ids=["config", "timeout"])
def test_a_refused_config_stops_both_ranks_with_one_message(tmp_path: Path, override: str,
                                                            env: dict[str, str],
                                                            said: str) -> None:
    out = train([str(SMOKE), override, f"train.out_dir={tmp_path / 'runs'}"], tmp_path,
                expect=2, **env)
    assert out.count("error:") == 1 and said in out, out
    assert not (tmp_path / "runs").exists()


@pytest.mark.mpi
@needs_mpi
def test_a_config_error_on_rank_1_stops_both_ranks_at_once(tmp_path: Path) -> None:
    """The config file missing on the second machine (rank 1 alone, by MPMD): every rank stops
    with exit 2 and one message naming the rank, rank 0's new folder removed, well before the
    collectives' timeout."""
    runs, missing = tmp_path / "runs", tmp_path / "elsewhere" / "smoke.yaml"

    def rank(config: Path) -> list[str]:
        return [sys.executable, "-m", "trainer.cli", "train", str(config), *SMALL,
                f"train.out_dir={runs}", "--progress", "none"]

    done = subprocess.run([mpiexec(), "-n", "1", *rank(SMOKE), ":", "-n", "1", *rank(missing)],
                          cwd=tmp_path, env=mpi_env(TRAINER_DIST_TIMEOUT="30"), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert done.returncode == 2, done.stdout[-3000:]
    assert done.stdout.count("error:") == 1, done.stdout
    assert f"error: rank 1 of 2 could not start: config file {missing} not found" in done.stdout
    assert list(runs.iterdir()) == []


@pytest.mark.mpi
@needs_mpi
def test_ctrl_c_during_setup_exits_130_without_a_half_made_folder(tmp_path: Path) -> None:
    """Ctrl-C on mpiexec (SIGINT to every rank) while rank 0 sets a new run up: as with one
    process, exit 130 and no folder left without a checkpoint (rank 0 removes it before it ends
    the job; rank 1 must not end it first)."""
    runs = tmp_path / "runs"
    proc = launch(["train", str(SMOKE), *SMALL, "data.synthetic_train=20000",
                   f"train.out_dir={runs}", "--progress", "none"], tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (runs.is_dir() and any(runs.iterdir())):  # rank 0 made the run folder
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the run folder did not appear"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)  # mpiexec passes it on to both ranks
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out[-3000:]
    assert out.count("interrupted") == 1 and "error" not in out, out
    left = list(runs.iterdir())  # setup takes far longer than the signal: normally none
    assert left == [] or (left[0] / "checkpoints" / "last").is_dir(), left


@pytest.mark.mpi
@needs_mpi
def test_an_amp_run_resumes_on_two_ranks_bit_identical(tmp_path: Path) -> None:
    """train.amp=true: resumed on 2 ranks, rank 1 continues with rank 0's loss scale (its
    scaled gradients are averaged with rank 0's), so the run ends as one that never stopped."""
    args = [str(SMOKE), *SMALL, "train.epochs=1", "train.amp=true", "optimizer.lr=0.05",
            "--progress", "none"]
    train([*args, f"train.out_dir={tmp_path / 'whole'}"], tmp_path)
    train([*args, f"train.out_dir={tmp_path / 'parts'}", "train.stop_after_steps=9"], tmp_path,
          expect=130)
    (whole,), (parts,) = (tmp_path / "whole").iterdir(), (tmp_path / "parts").iterdir()
    stopped = json.loads((parts / "checkpoints" / "last" / "state.json").read_text())
    assert stopped["scaler"]["scale"] < 65536.0  # backed off: a fresh GradScaler's differs
    train([str(parts / "config.yaml"), "--resume", str(parts), "--progress", "none"], tmp_path)
    assert "weights identical on all 2 ranks" in (parts / "train.log").read_text()
    for name in ("model.safetensors", "optimizer.safetensors"):
        mine, theirs = (flat(engine.load(run / "checkpoints" / "last" / name))
                        for run in (whole, parts))
        for key, value in mine.items():
            np.testing.assert_array_equal(value, theirs[key], err_msg=f"{name} {key}")
