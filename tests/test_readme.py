"""The README's porting example runs as written, and is a PyTorch script once its imports swap."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def porting_example(heading: str = "## Porting PyTorch code") -> str:
    """The first Python block of the README's section under heading."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def as_pytorch(code: str) -> str:
    """The same program with each import line replaced by the PyTorch line in its comment."""
    lines = []
    for line in code.splitlines():
        if line.startswith(("import ", "from ")) and "# " in line:
            torch_line = line.split("# ", 1)[1].strip()
            if torch_line.endswith("..."):  # from torch.utils.data import ... : same names
                torch_line = torch_line[:-3] + line.split(" import ", 1)[1].split("#")[0].strip()
            line = torch_line
        lines.append(line)
    return "\n".join(lines) + "\n"


def run(code: str, cwd: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def accuracy(stdout: str) -> float:
    return float(re.search(r"train accuracy ([0-9.]+)", stdout).group(1))


def test_porting_example_trains_and_saves(tmp_path: Path) -> None:
    out = run(porting_example(), tmp_path)
    assert out.startswith("Using cpu device")
    losses = [float(v) for v in re.findall(r"loss ([0-9.]+)", out)]
    assert len(losses) == 3 and losses[0] > losses[-1]
    assert accuracy(out) > 0.95
    import engine

    state = engine.load(tmp_path / "simple_net.safetensors")
    assert sorted(state) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    assert tuple(state["fc1.weight"].shape) == (128, 784)


def test_porting_example_is_a_pytorch_program(tmp_path: Path) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    code = as_pytorch(porting_example())
    assert "engine" not in code
    assert accuracy(run(code, tmp_path)) > 0.95


def test_mixed_precision_example_runs(tmp_path: Path) -> None:
    out = run(porting_example("## Mixed precision"), tmp_path)
    assert out.split() == ["engine.float16", "engine.float32", "engine.float32", "65536.0"]


def test_mixed_precision_example_is_a_pytorch_program(tmp_path: Path) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    code = porting_example("## Mixed precision").replace("import engine as torch",
                                                          "import torch")
    code = code.replace("from engine import", "from torch import")
    assert "engine" not in code
    assert run(code, tmp_path).split() == ["torch.float16", "torch.float32", "torch.float32",
                                           "65536.0"]
