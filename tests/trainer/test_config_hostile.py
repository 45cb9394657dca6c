"""Hostile configs: named code, escaping run names, YAML bombs and late constructor errors.

Each is refused through the CLI with exit 2 and one line naming the file or override, before
a run folder (or any other file) exists.
"""

from __future__ import annotations

import re
import sys
import textwrap
import time
from pathlib import Path

import pytest

import trainer.yaml_source as ys


def _refused(result: object, *expected: str) -> str:
    """Exit 2 and one line naming what was wrong (the note lines of imports aside)."""
    out = result.output.strip()
    assert "Traceback" not in out and "internal error" not in out, out
    lines = [ln for ln in out.splitlines() if not ln.startswith("note: ")]
    assert result.exit_code == 2, out
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    for text in expected:
        assert text in lines[0], out
    return lines[0]


def _nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "runs").exists()


def test_model_name_calls_nothing_that_is_not_a_module(cli, tiny_config: Path,
                                                       tmp_path: Path) -> None:
    marker = tmp_path / "X"
    text = tiny_config.read_text().replace(
        "  name: mlp\n  hidden: [16]\n  dropout: 0.1\n",
        f"  name: \"os:system\"\n  command: \"touch {marker}\"\n")
    tiny_config.write_text(text)
    line = 1 + text.splitlines().index('  name: "os:system"')
    _refused(cli("train", tiny_config), f"{tiny_config}:{line}: model.name",
             "not an engine.nn.Module subclass")
    assert not marker.exists()
    _nothing_written(tmp_path)


@pytest.mark.parametrize("name", ["subprocess:Popen", "builtins:eval", "os:path.join",
                                  "engine.nn:functional"])
def test_model_name_must_be_a_module_class(cli, tiny_config: Path, tmp_path: Path,
                                           name: str) -> None:
    _refused(cli("train", tiny_config, f"model.name={name}"), f"override 'model.name={name}'",
             "not an engine.nn.Module subclass")
    _nothing_written(tmp_path)


@pytest.mark.parametrize("name", [":", "1os:X", ":system", "a b:C", "os:system()"])
def test_malformed_import_path(cli, tiny_config: Path, tmp_path: Path, name: str) -> None:
    _refused(cli("train", tiny_config, f"model.name={name}"), "model.name",
             "must look like 'package.module:Class'")
    _nothing_written(tmp_path)


def _tiny_run(cli, tiny_config: Path, tmp_path: Path, *overrides: str) -> Path:
    run = tmp_path / "runs" / "done"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "none",
                 "train.epochs=1", *overrides)
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.parametrize("command", [["eval"], ["export"]])
def test_run_folder_config_cannot_run_code(cli, tiny_config: Path, tmp_path: Path,
                                           command: list[str]) -> None:
    run = _tiny_run(cli, tiny_config, tmp_path)
    marker = tmp_path / "X"
    cfg = run / "config.yaml"
    text = re.sub(r"model:\n(  .*\n)+", f"model:\n  name: os:system\n  command: touch {marker}\n",
                  cfg.read_text())
    cfg.write_text(text)
    line = 1 + text.splitlines().index("  name: os:system")
    _refused(cli(*command, run), f"{cfg}:{line}: model.name", "'system' is a")
    assert not marker.exists()
    assert not (run / "export").exists() and not (run / "eval.json").exists()


def test_run_folder_user_model_is_announced(cli, tiny_config: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hostile_user_nets.py").write_text(textwrap.dedent("""
        from engine import nn

        class Net(nn.Module):
            def __init__(self, width=8):
                super().__init__()
                self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(),
                                         nn.Linear(width, 10))

            def forward(self, x):
                return self.net(x)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny_config.write_text(tiny_config.read_text().replace(
        "  name: mlp\n  hidden: [16]\n  dropout: 0.1\n", "  name: hostile_user_nets:Net\n"))
    run = _tiny_run(cli, tiny_config, tmp_path)
    from trainer import zoo

    monkeypatch.setattr(zoo, "_NOTED", set())  # as in a fresh `trainer eval` process
    result = cli("eval", run)
    assert result.exit_code == 0, result.output
    notes = [ln for ln in result.output.splitlines() if ln.startswith("note: ")]
    assert len(notes) == 1
    assert re.fullmatch(rf"note: importing user model code hostile_user_nets:Net named by "
                        rf"{re.escape(str(run / 'config.yaml'))}:\d+", notes[0])
    monkeypatch.delitem(sys.modules, "hostile_user_nets")


@pytest.mark.parametrize("name", ["../../escaped", "/abs/path", "a/b", "..", ".", "", " ",
                                  "a\\b", "x" * 300])
def test_run_name_is_one_path_component(cli, tiny_config: Path, tmp_path: Path,
                                        name: str) -> None:
    _refused(cli("train", tiny_config, f"name={name}"), f"override 'name={name}': name:",
             "is not a valid run name")
    _nothing_written(tmp_path)
    assert not list(tmp_path.parent.glob("escaped*")) and not Path("/abs/path").exists()


def test_run_name_from_the_file(cli, tiny_config: Path, tmp_path: Path) -> None:
    tiny_config.write_text(tiny_config.read_text().replace("name: tiny", "name: ../up"))
    _refused(cli("train", tiny_config), f"{tiny_config}:1: name: '../up'")
    _nothing_written(tmp_path)


def test_alias_bomb_is_refused_at_once(cli, tmp_path: Path) -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    assert bomb.stat().st_size < 800
    start = time.perf_counter()
    _refused(cli("train", bomb), f"{bomb}: YAML expands to more than")
    assert time.perf_counter() - start < 1.0


def test_recursive_alias_is_refused(cli, tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    path.write_text("model: &m {name: mlp, self: *m}\n")
    _refused(cli("train", path), f"{path}: YAML refers to itself")


def test_huge_file_is_refused_by_size(cli, tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("model:\n  name: mlp\n  hidden: [" + ",".join(["1"] * 3_000_000) + "]\n")
    start = time.perf_counter()
    _refused(cli("train", path), f"{path}: config file is larger than 1,000,000 bytes")
    assert time.perf_counter() - start < 1.0


def test_many_values_are_refused_before_building_them(cli, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ys, "MAX_NODES", 1000)
    path = tmp_path / "long.yaml"
    path.write_text("model:\n  name: mlp\n  hidden: [" + ",".join(["1"] * 2000) + "]\n")
    _refused(cli("train", path), f"{path}: YAML has more than 1,000 values")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n", "---\n"])
def test_empty_config_is_refused(cli, tmp_path: Path, text: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where an accepted empty config would write runs/ and data/
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    _refused(cli("train", path), f"{path}: config file is empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.yaml"]


@pytest.mark.parametrize(("override", "reason"), [
    ("model.hidden=abc", "mlp: hidden must hold positive integers, got 'a'"),
    ("model.hidden=[-5]", "mlp: hidden must hold positive integers, got -5"),
    ("model.dropout=2.0", "mlp: dropout must be in [0, 1), got 2.0"),
    ("optimizer.betas=[0.9]", "not enough values to unpack"),
    ("optimizer.capturable=true", "capturable=True) is not supported"),
    ("optimizer.eps=-1", "Invalid epsilon value"),
    ("scheduler.step_size=0", "expected an integer >= 1, got 0"),
    # Found by the adversarial pass: these trained, silently rounded or failed mid-run.
    ("model.hidden=[1.5]", "mlp: hidden must hold positive integers, got 1.5"),
    ("model.hidden=true", "mlp: hidden must hold positive integers, got True"),
    ("model.dropout=-0.1", "mlp: dropout must be in [0, 1), got -0.1"),
    ("model.num_classes=0", "mlp: num_classes must hold positive integers, got 0"),
    ("model.in_features=0", "mlp: in_features must hold positive integers, got 0"),
])
def test_constructor_errors_name_the_override(cli, tiny_config: Path, tmp_path: Path,
                                              override: str, reason: str) -> None:
    key = override.partition("=")[0]
    line = _refused(cli("train", tiny_config, override), f"override '{override}': {key}: ")
    assert reason in line
    _nothing_written(tmp_path)


@pytest.mark.parametrize(("overrides", "message"), [
    (["optimizer.lr=.inf"], "optimizer.lr: expected a number > 0.0, got inf"),
    (["train.min_delta=.inf"], "train.min_delta: expected a number >= 0.0, got inf"),
    (["scheduler.step_size=-3"], "scheduler.step_size: expected an integer >= 1, got -3"),
    (["scheduler.name=multistep", "scheduler.step_size=null", "scheduler.milestones=abc"],
     "scheduler.milestones: expected a list of integers >= 0, got 'abc'"),
    (["scheduler.name=multistep", "scheduler.step_size=null", "scheduler.milestones=[2, 1.5]"],
     "scheduler.milestones: expected a list of integers >= 0"),
])
def test_nonsense_counts_and_infinities(cli, tiny_config: Path, tmp_path: Path,
                                        overrides: list[str], message: str) -> None:
    if "scheduler.step_size=null" in overrides:  # the tiny config's StepLR argument
        tiny_config.write_text(tiny_config.read_text().replace("  step_size: 5\n", ""))
        overrides = [o for o in overrides if o != "scheduler.step_size=null"]
    _refused(cli("train", tiny_config, *overrides), message)
    _nothing_written(tmp_path)


def test_plateau_per_step_names_the_interval(cli, tiny_config: Path, tmp_path: Path) -> None:
    tiny_config.write_text(tiny_config.read_text().replace("  step_size: 5\n", "")
                           .replace("  gamma: 0.9\n", "").replace("name: step", "name: plateau"))
    line = _refused(cli("train", tiny_config), f"{tiny_config}:")
    assert "scheduler.interval: plateau watches a per-epoch metric" in line
    assert "cannot build" not in line
    _nothing_written(tmp_path)


def test_required_argument_that_fails_later_is_blamed(cli, tiny_config: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Removing a required argument proves nothing; the one that changes the error is named."""
    (tmp_path / "hostile_div_net.py").write_text(textwrap.dedent("""
        from engine import nn

        class Net(nn.Module):
            def __init__(self, groups, width=8):
                super().__init__()
                self.fc = nn.Linear(784, width * (16 // groups))

            def forward(self, x):
                return self.fc(x.flatten(1))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny_config.write_text(tiny_config.read_text().replace(
        "  name: mlp\n  hidden: [16]\n  dropout: 0.1\n",
        "  name: hostile_div_net:Net\n  groups: 0\n  width: 4\n"))
    _refused(cli("train", tiny_config), "model.groups: 0 is refused (ZeroDivisionError")
    _nothing_written(tmp_path)
    monkeypatch.delitem(sys.modules, "hostile_div_net")


def test_sgd_momentum_names_the_override(cli, tiny_config: Path, tmp_path: Path) -> None:
    _refused(cli("train", tiny_config, "optimizer.name=sgd", "optimizer.momentum=-1"),
             "override 'optimizer.momentum=-1': optimizer.momentum: -1",
             "Invalid momentum value: -1")
    _nothing_written(tmp_path)


def test_constructor_error_names_the_file_line(cli, tiny_config: Path, tmp_path: Path) -> None:
    text = tiny_config.read_text().replace("  step_size: 5", "  step_size: 0")
    tiny_config.write_text(text)
    line = 1 + text.splitlines().index("  step_size: 0")
    _refused(cli("train", tiny_config),
             f"{tiny_config}:{line}: scheduler.step_size: expected an integer >= 1")
    _nothing_written(tmp_path)


def test_resume_with_a_bad_override_touches_nothing(cli, tiny_config: Path,
                                                    tmp_path: Path) -> None:
    from folder_snapshot import tree_hash

    run = _tiny_run(cli, tiny_config, tmp_path)
    before = tree_hash(run)
    _refused(cli("train", tiny_config, "--resume", run, "optimizer.betas=[0.9]"),
             "optimizer.betas")
    assert tree_hash(run) == before


def test_one_cycle_shorter_than_the_run_is_refused_before_training(cli, tiny_config: Path,
                                                                    tmp_path: Path) -> None:
    text = tiny_config.read_text().replace(
        "  name: step\n  interval: step\n  step_size: 5\n  gamma: 0.9\n",
        "  name: onecycle\n  interval: step\n  max_lr: 0.05\n  total_steps: 3\n")
    tiny_config.write_text(text)
    line = _refused(cli("train", tiny_config), "scheduler.total_steps",
                    "the one-cycle schedule has 3 steps but the run takes")
    needed = int(re.search(r"the run takes (\d+)", line).group(1))
    assert needed > 3
    # the step count needs the data, so this is found once it is open: no run folder is left
    assert not any((tmp_path / "runs").iterdir())
    tiny_config.write_text(text.replace("total_steps: 3", f"total_steps: {needed}"))
    assert cli("train", tiny_config).exit_code == 0  # exactly long enough: trains to the end
