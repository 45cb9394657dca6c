"""`trainer train ... --multirun`: the value parser, the grid, the sweep folder and its table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from engine.errors import ConfigError
from trainer.sweep import dump_members, expand, member_name, split_values

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "smoke.yaml"


@pytest.mark.parametrize(("value", "parts"), [
    ("1e-3,3e-4", ["1e-3", "3e-4"]),
    ("[64],[256]", ["[64]", "[256]"]),
    ("[64,128]", ["[64,128]"]),  # one value: a list
    ("[[1,2],[3]],[4]", ["[[1,2],[3]]", "[4]"]),
    ("{a: 1, b: [2,3]},{a: 4}", ["{a: 1, b: [2,3]}", "{a: 4}"]),
    ("'a,b',c", ["'a,b'", "c"]),
    ('"x\\",y",z', ['"x\\",y"', "z"]),  # an escaped quote does not end the string
    ("'it''s,x'", ["'it''s,x'"]),  # YAML's doubled quote inside '...'
    ("O'Brien,x", ["O'Brien", "x"]),  # a quote inside a plain word opens no string
    ("[a, 'b,c'],[d]", ["[a, 'b,c']", "[d]"]),
    ("adam", ["adam"]),
    ("", [""]),  # data.root= stays one (empty) value
])
def test_split_values_splits_at_top_level_commas_only(value: str, parts: list[str]) -> None:
    assert split_values(value) == parts


@pytest.mark.parametrize(("value", "message"), [
    ("[64],[256", "unbalanced brackets"),
    ("64],[256]", "unbalanced brackets"),
    ("'a,b", "unbalanced quote"),
    ("1,,2", "empty value in the list"),
    ("1,", "empty value in the list"),
])
def test_split_values_refuses_malformed_lists(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^override 'k={re.escape(value)}': {message}"):
        split_values(value, f"k={value}")


def test_expand_is_the_cartesian_product_in_order() -> None:
    keys, fixed, members = expand(["optimizer.lr=1e-3,3e-4", "train.epochs=1",
                                   "model.hidden=[64],[256],[8,8]"])
    assert keys == ["optimizer.lr", "model.hidden"]
    assert fixed == ["train.epochs=1"]
    assert len(members) == 6
    assert members[0] == ["optimizer.lr=1e-3", "train.epochs=1", "model.hidden=[64]"]
    assert members[2] == ["optimizer.lr=1e-3", "train.epochs=1", "model.hidden=[8,8]"]
    assert members[5] == ["optimizer.lr=3e-4", "train.epochs=1", "model.hidden=[8,8]"]
    with pytest.raises(ConfigError, match="optimizer.lr is swept twice"):
        expand(["optimizer.lr=1,2", "optimizer.lr=3,4"])


def test_member_names_are_file_names() -> None:
    assert member_name(3, {"optimizer.lr": "3e-4", "model.hidden": "[8, 8]"}) == \
        "03-lr=3e-4-hidden=8_8"
    assert member_name(0, {"name": "a/b:c"}) == "00-name=a_b_c"


def test_without_multirun_a_comma_is_what_it_was(cli, tiny_config: Path) -> None:
    result = cli("train", tiny_config, "optimizer.lr=1e-3,3e-4")
    assert result.exit_code == 2
    assert "optimizer.lr: expected a number > 0.0, got '1e-3,3e-4'" in result.stderr
    result = cli("train", tiny_config, "model.hidden=[8,8]", "--print-config")
    assert yaml.safe_load(result.stdout)["model"]["hidden"] == [8, 8]
    # with --multirun a bracketed list is still one value: one member
    text = dump_members(tiny_config, ["model.hidden=[8,8]"], [])
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == 1 and docs[0]["model"]["hidden"] == [8, 8]


def test_print_config_shows_every_member(cli, tiny_config: Path, tmp_path: Path) -> None:
    result = cli("train", tiny_config, "optimizer.lr=0.1,0.2", "model.hidden=[4],[5]",
                 "--multirun", "--print-config")
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [(d["optimizer"]["lr"], d["model"]["hidden"]) for d in docs] == [
        (0.1, [4]), (0.1, [5]), (0.2, [4]), (0.2, [5])]
    assert not (tmp_path / "runs").exists()


def _sweep_folder(out: Path) -> Path:
    (folder,) = out.glob("sweep-*")
    return folder


def _table_rows(stdout: str, names: list[str]) -> dict[str, list[str]]:
    """Cells of the sweep table's rows, by member folder name."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells[0] in names:
            rows[cells[0]] = cells
    return rows


def test_a_2x2_sweep_on_smoke_makes_four_runs_and_a_table(cli, tmp_path: Path) -> None:
    out = tmp_path / "sweeps"
    result = cli("train", SMOKE, "optimizer.lr=1e-3,3e-4", "model.hidden=[16],[8,8]",
                 f"train.out_dir={out}", "train.epochs=1", "train.plot=false",
                 "data.synthetic_train=200", "data.synthetic_test=50", "--multirun",
                 "--progress", "none")
    assert result.exit_code == 0, result.output
    folder = _sweep_folder(out)
    assert folder.name.startswith("sweep-smoke-")
    names = ["00-lr=1e-3-hidden=16", "01-lr=1e-3-hidden=8_8", "02-lr=3e-4-hidden=16",
             "03-lr=3e-4-hidden=8_8"]
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == names
    summary = json.loads((folder / "sweep.json").read_text())
    assert summary["status"] == "finished" and summary["keys"] == ["optimizer.lr", "model.hidden"]
    rows = _table_rows(result.stdout, names)
    assert len(rows) == 4
    for member in summary["members"]:
        run = folder / member["run"]
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert config["optimizer"]["lr"] == float(member["values"]["optimizer.lr"])
        assert config["model"]["hidden"] == yaml.safe_load(member["values"]["model.hidden"])
        meta = json.loads((run / "meta.json").read_text())["result"]
        assert member["test_acc"] == meta["test_acc"] and member["status"] == "finished"
        assert member["best_val_acc"] == meta["best_val_acc"]
        assert rows[member["run"]] == [member["run"], *member["values"].values(),
                                       f"{meta['best_val_acc']:.4f}", f"{meta['test_acc']:.4f}",
                                       "finished"]
    assert "4 of 4 members finished" in result.stdout


def test_an_invalid_member_config_is_refused_before_anything_runs(cli, tiny_config: Path,
                                                                  tmp_path: Path) -> None:
    # val_acc cannot be monitored without a validation split: member 01's config is invalid
    result = cli("train", tiny_config, "train.monitor=val_acc,train_loss",
                 "data.val_fraction=0.2,0", "train.epochs=1", "--multirun", "--progress", "none")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: sweep member train.monitor=val_acc "
                                    "data.val_fraction=0")
    assert "train.monitor is val_acc but data.val_fraction is 0" in result.stderr
    assert not (tmp_path / "runs").exists()  # no sweep folder, no member trained


def test_a_failed_member_is_marked_and_the_others_finish(cli, tiny_config: Path,
                                                         tmp_path: Path) -> None:
    # dropout 2.0 passes the config schema but the model refuses it when built: members 02, 03
    result = cli("train", tiny_config, "model.dropout=0.1,2.0", "data.val_fraction=0.2,0",
                 "train.monitor=train_loss", "train.epochs=1", "--multirun", "--progress", "none")
    assert result.exit_code == 1
    folder = _sweep_folder(tmp_path / "runs")
    names = ["00-dropout=0.1-val_fraction=0.2", "01-dropout=0.1-val_fraction=0",
             "02-dropout=2.0-val_fraction=0.2", "03-dropout=2.0-val_fraction=0"]
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == names[:2]
    assert f"error: sweep member {names[2]} failed: override 'model.dropout=2.0': " \
        "model.dropout: 2.0 is refused" in result.stderr
    summary = json.loads((folder / "sweep.json").read_text())
    assert summary["status"] == "failed"
    assert [m["status"] for m in summary["members"]] == ["finished", "finished", "failed",
                                                         "failed"]
    assert "dropout must be in [0, 1)" in summary["members"][2]["error"]
    assert summary["members"][1]["best_val_acc"] is None  # no validation split: no val acc
    assert summary["members"][1]["test_acc"] == json.loads(
        (folder / names[1] / "meta.json").read_text())["result"]["test_acc"]
    rows = _table_rows(result.stdout, names)
    assert rows[names[2]][-3:] == ["-", "-", "failed"]
    assert [rows[n][-1] for n in names] == ["finished", "finished", "failed", "failed"]
    assert "2 of 4 members finished" in result.stdout


def test_multirun_refuses_resume_and_run_dir(cli, tiny_config: Path, tmp_path: Path) -> None:
    result = cli("train", tiny_config, "optimizer.lr=0.1,0.2", "--multirun", "--run-dir",
                 tmp_path / "x")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --multirun writes each member under train.out_dir")
    result = cli("train", tiny_config, "--multirun", "--resume", tmp_path / "x")
    assert result.exit_code == 2 and "--multirun starts new runs" in result.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists()


def test_quiet_sweep_prints_nothing_and_writes_its_summary(cli, tiny_config: Path,
                                                           tmp_path: Path) -> None:
    result = cli("train", tiny_config, "optimizer.lr=0.005,0.001", "train.epochs=1",
                 "--multirun", "--quiet")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    summary = json.loads((_sweep_folder(tmp_path / "runs") / "sweep.json").read_text())
    assert [m["values"] for m in summary["members"]] == [{"optimizer.lr": "0.005"},
                                                          {"optimizer.lr": "0.001"}]


def test_an_interrupted_member_stops_the_sweep(cli, tiny_config: Path, tmp_path: Path) -> None:
    # stop_after_steps behaves as a Ctrl-C after 2 steps: member 00 stops, 01 never starts
    result = cli("train", tiny_config, "optimizer.lr=0.005,0.001", "train.stop_after_steps=2",
                 "--multirun", "--progress", "none")
    assert result.exit_code == 130
    folder = _sweep_folder(tmp_path / "runs")
    summary = json.loads((folder / "sweep.json").read_text())
    assert summary["status"] == "interrupted" and summary["folder"] == str(folder)
    assert [m["status"] for m in summary["members"]] == ["interrupted", "not run"]
    assert [p.name for p in folder.iterdir() if p.is_dir()] == ["00-lr=0.005"]
    assert "interrupted (stop_after_steps) at step 2" in result.stderr


def test_a_wrong_fixed_override_stops_the_sweep_before_any_folder(cli, tiny_config: Path,
                                                                  tmp_path: Path) -> None:
    result = cli("train", tiny_config, "optimizer.lr=0.1,0.2", "train.epoch=1", "--multirun")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: override 'train.epoch=1': unknown key 'train.epoch'")
    assert not (tmp_path / "runs").exists()
