"""The command layer: --debug on the root, flags as overrides, a --help that stays light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.errors import ConfigError
from trainer.config import flag_overrides

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def _trainer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainer.cli", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)


def test_flag_overrides() -> None:
    assert flag_overrides() == []
    assert flag_overrides(device="cuda", progress="none") == ["device=cuda",
                                                              "train.progress=none"]
    assert flag_overrides(progress="log") == ["train.progress=log"]


def test_print_config_honours_progress_and_device(cli, tiny_config: Path) -> None:
    result = cli("train", tiny_config, "train.progress=bar", "--progress", "none",
                 "--device", "cuda", "--print-config")
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed["train"]["progress"] == "none"  # the flag wins over the override, as in a run
    assert printed["device"] == "cuda"
    assert not (tiny_config.parent / "runs").exists()


def test_print_config_of_smoke_shows_progress_none() -> None:
    result = _trainer("train", "configs/smoke.yaml", "--progress", "none", "--print-config")
    assert result.returncode == 0, result.stderr
    assert "  progress: none\n" in result.stdout


@pytest.mark.parametrize("args", [("--debug", "train", "{missing}"),
                                  ("train", "{missing}", "--debug")])
def test_debug_before_or_after_the_command_lets_the_error_through(cli, tmp_path: Path,
                                                                  args: tuple[str, ...]) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"config file {missing} not found"):
        cli(*(a.format(missing=missing) for a in args))


def test_without_debug_the_same_error_is_one_line(cli, tmp_path: Path) -> None:
    result = cli("train", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert result.output == f"error: config file {tmp_path / 'nope.yaml'} not found " \
        "(check the path)\n"


def test_root_debug_prints_a_traceback(tmp_path: Path) -> None:
    result = _trainer("--debug", "train", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1  # an uncaught exception: Python's own exit status
    assert "Traceback (most recent call last)" in result.stderr
    assert "engine.errors.ConfigError: config file" in result.stderr


def test_root_help_lists_every_command_and_debug() -> None:
    result = _trainer("--help")
    assert result.returncode == 0
    for name in ("train", "eval", "runs", "export", "predict", "summary", "--debug"):
        assert name in result.stdout
    # The per-command alias is accepted but not advertised: --debug is a root option.
    assert "--debug" not in _trainer("train", "--help").stdout


_IMPORTS = """
import sys
from trainer.cli import app
try:
    app(sys.argv[1:], prog_name="trainer")
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "engine", "rich", "datasets"))
print("HEAVY", heavy)
"""


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["predict", "--help"],
                                  ["summary", "--help"], ["--version"]])
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", _IMPORTS, *args], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout
