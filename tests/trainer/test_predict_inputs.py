"""`trainer predict` refuses hostile inputs at once with one line: devices, FIFOs, wrong shapes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PREP = {"input": {"dtype": "uint8", "shape": [28, 28]}, "scale": 1 / 255, "mean": [0.5],
        "std": [0.25]}


@pytest.fixture
def exported(tmp_path):
    import engine as en
    from engine import nn

    en.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    path = tmp_path / "m.safetensors"
    en.export.export(model, en.zeros(2, 1, 28, 28), path, "script", PREP,
                     [str(i) for i in range(10)])
    return path


@pytest.fixture
def images(tmp_path):
    from datasets.idx import write_idx

    raw = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    return write_idx(tmp_path / "x-idx3-ubyte", raw)


def _predict(*args: object) -> subprocess.CompletedProcess:
    """The real CLI in a child process, with a deadline: a FIFO used to block it forever."""
    return subprocess.run([sys.executable, "-m", "trainer.cli", "predict", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("which", ["model", "images", "labels"])
@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "directory"])
def test_non_regular_inputs_are_refused_at_once(tmp_path, exported, images, which, kind):
    bad = {"dev_zero": lambda: Path("/dev/zero"),
           "fifo": lambda: _fifo(tmp_path, f"{which}.safetensors"),
           "directory": lambda: tmp_path}[kind]()
    args = {"model": [bad, images], "images": [exported, bad],
            "labels": [exported, images, "--labels", bad]}[which]
    start = time.perf_counter()
    proc = _predict(*args)
    assert time.perf_counter() - start < 30
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "not a regular file" in proc.stderr
    assert str(bad) in proc.stderr and "Traceback" not in proc.stderr


def test_small_images_are_refused_not_reshaped(tmp_path, exported):
    from datasets.idx import write_idx

    small = write_idx(tmp_path / "small-idx3-ubyte", np.zeros((4, 14, 14), np.uint8))
    proc = _predict(exported, small)
    assert proc.returncode != 0 and proc.stdout == ""  # formerly one row for four images
    assert proc.stderr.count("\n") == 1
    assert "14x14" in proc.stderr and "28x28" in proc.stderr and str(small) in proc.stderr


def test_library_preprocess_never_reshapes(exported):
    from engine.errors import ExportError
    from engine.export import load

    run = load(exported)
    with pytest.raises(ExportError, match=r"images of shape \[14, 14\] do not match"):
        run.predict_proba(np.zeros((4, 14, 14), np.uint8))
    probs = run.predict_proba(np.zeros((3, 28, 28), np.uint8))
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_predict_still_works_and_matches_the_model(tmp_path, exported, images):
    import engine as en
    from engine import nn

    proc = _predict(exported, images, "--top-k", "1")
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.strip().splitlines()
    assert len(rows) == 5
    en.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    from datasets.idx import read_idx

    x = (read_idx(images).astype(np.float32) / 255 - 0.5) / 0.25
    with en.no_grad():
        expected = model(en.tensor(x[:, None])).numpy().argmax(axis=1)
    assert [int(r.split(",")[1]) for r in rows[1:]] == expected.tolist()


def test_tampered_export_is_one_line_at_predict(tmp_path, exported, images):
    blob = bytearray(exported.read_bytes())
    blob[-1] ^= 1
    exported.write_bytes(bytes(blob))
    proc = _predict(exported, images)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1
    assert "integrity checksum" in proc.stderr and str(exported) in proc.stderr


@pytest.mark.parametrize("where", ["missing_folder", "directory"])
def test_bad_out_is_refused_before_the_model_runs(tmp_path, exported, images, where):
    out = tmp_path / "no" / "x.csv" if where == "missing_folder" else tmp_path
    proc = _predict(exported, images, "--out", out)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1
    assert "--out" in proc.stderr and ".part" not in proc.stderr
    assert not (tmp_path / "no").exists()
