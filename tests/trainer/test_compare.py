"""`trainer runs --compare A B`: differing config keys, final metrics, one PNG of the curves."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.run_compare import compare_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_runs(cli, tiny_config: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Runs a and b differing in optimizer.lr and train.epochs (and train.progress, a display
    setting that does not count as a difference)."""
    runs = tmp_path / "runs"
    for name, args in (("a", ["optimizer.lr=0.005", "train.epochs=1", "--progress", "log"]),
                       ("b", ["optimizer.lr=0.001", "train.epochs=2", "--progress", "none"])):
        result = cli("train", tiny_config, "--run-dir", runs / name, *args)
        assert result.exit_code == 0, result.output
    return runs / "a", runs / "b"


def _result(run: Path) -> dict:
    return json.loads((run / "meta.json").read_text())["result"]


def test_compare_lists_exactly_the_keys_that_differ(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    report = compare_runs(a, b)
    assert report["differ"] == [("optimizer.lr", 0.005, 0.001), ("train.epochs", 1, 2)]
    assert report["ignored"] == ["train.progress"]
    metrics = {label: (va, vb) for label, va, vb in report["metrics"]}
    assert metrics["epochs"] == ("1/1", "2/2")
    assert metrics["test acc"] == (_result(a)["test_acc"], _result(b)["test_acc"])
    assert metrics["best val acc"] == (_result(a)["best_val_acc"], _result(b)["best_val_acc"])
    assert metrics["steps"] == (8, 16)


def _row(stdout: str, first: str) -> list[str]:
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{stdout}")


def test_cli_compare_prints_the_tables_and_writes_a_png(cli, two_runs: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    a, b = two_runs
    result = cli("runs", a.parent, "--compare", "a", "b")  # names inside DIR
    assert result.exit_code == 0, result.output
    assert _row(result.stdout, "optimizer.lr") == ["optimizer.lr", "0.005", "0.001"]
    assert _row(result.stdout, "train.epochs") == ["train.epochs", "1", "2"]
    table = result.stdout.split("final metrics")[0]
    keys = [ln for ln in table.splitlines() if ln.startswith("│")]
    assert len(keys) == 2  # exactly the two keys, nothing else
    assert "also differ (how a run is shown or stored): train.progress" in result.stdout
    assert _row(result.stdout, "test acc") == [
        "test acc", f"{_result(a)['test_acc']:.4f}", f"{_result(b)['test_acc']:.4f}"]
    png = a / "plots" / "compare-b.png"
    if importlib.util.find_spec("matplotlib") is None:  # the plot extra is optional
        assert result.stdout.endswith("no plot: matplotlib is not installed (pip install "
                                      "'.[plot]')\n") and not png.exists()
        return
    assert f"wrote {png}\n" in result.stdout
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000

    out = tmp_path / "cmp" / "both.png"
    result = cli("runs", "--compare", a, b, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"wrote {out}\n") and out.read_bytes()[:8] == PNG_MAGIC


def test_compare_accepts_latest_and_best(cli, two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    result = cli("runs", a.parent, "--compare", "latest", "a", "--out", a.parent / "x.png")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"using run {b} for latest (newest finished)\n"
    assert _row(result.stdout, "train.epochs") == ["train.epochs", "2", "1"]


def test_compare_of_a_folder_that_is_no_run_is_one_line(cli, two_runs: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    a, _ = two_runs
    result = cli("runs", "--compare", a, tmp_path / "nope")
    assert result.exit_code == 1
    assert result.stderr == (f"error: {tmp_path / 'nope'} is not a run directory (no config.yaml)"
                             "; pass the folder `trainer train` created, e.g. "
                             "runs/<name>-<time>\n")


_NO_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None  # as if the plot extra were not installed
from trainer.cli import app
app(sys.argv[1:], prog_name="trainer")
"""


def test_without_matplotlib_compare_says_so(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    proc = subprocess.run([sys.executable, "-c", _NO_MATPLOTLIB, "runs", "--compare", str(a),
                           str(b)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no plot: matplotlib is not installed (pip install '.[plot]')" in proc.stdout
    assert not (a / "plots").exists()


_IMPORTS = """
import sys
from trainer.cli import app
try:
    app(sys.argv[1:], prog_name="trainer")
except SystemExit:
    pass
print("HEAVY", sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "engine", "rich")))
"""


@pytest.mark.parametrize("command", ["runs", "eval", "export"])
def test_new_options_keep_help_light(command: str) -> None:
    proc = subprocess.run([sys.executable, "-c", _IMPORTS, command, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout
    assert ("--compare" if command == "runs" else "--runs-dir") in proc.stdout
