"""Config loading: override typing, validation messages with file and line, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from trainer import config


def test_override_typed_by_schema() -> None:
    # YAML 1.1 reads 1e-3 as a string; the schema makes it a float.
    cfg = config.loads("optimizer: {lr: 1e-2}", ["optimizer.lr=1e-3", "train.epochs=3",
                                                  "data.normalize=[0.5,0.2]", "train.plot=no"])
    assert cfg.optimizer.lr == 0.001 and isinstance(cfg.optimizer.lr, float)
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.data.normalize == [0.5, 0.2]
    assert cfg.train.plot is False


def test_override_of_constructor_argument_typed_like_default() -> None:
    cfg = config.loads("optimizer: {name: adam}", ["optimizer.eps=1e-6"])
    assert cfg.optimizer.kwargs["eps"] == 1e-6 and isinstance(cfg.optimizer.kwargs["eps"], float)


def test_dump_round_trip(tmp_path: Path) -> None:
    cfg = config.loads("model: {name: mlp, hidden: [32]}", ["optimizer.lr=0.05", "seed=7"])
    path = tmp_path / "c.yaml"
    path.write_text(config.dump(cfg))
    again = config.load(path)
    assert again == cfg
    assert config.dump(again) == config.dump(cfg)


def test_unknown_key_names_file_line_and_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\ndata:\n  dataset: mnist\n  batch_sise: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:4: unknown key 'data\.batch_sise'; "
                                          r"did you mean 'data\.batch_size'\?"):
        config.load(path)


def test_key_in_wrong_section_points_to_the_right_one() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'optimizer\.lr'"):
        config.loads("lr: 0.1\n")


@pytest.mark.parametrize("override, message", [
    ("optimizer.lr=-0.1", r"optimizer\.lr: expected a number > 0\.0, got -0\.1"),
    ("data.batch_size=0", r"data\.batch_size: expected an integer >= 1, got 0"),
    ("data.val_fraction=1", r"data\.val_fraction: expected a number >= 0\.0 and < 1\.0"),
    ("train.epochs=two", r"train\.epochs: expected an integer >= 1 or null, got 'two'"),
    ("data.dataset=mnsit", r"unknown dataset 'mnsit'; choose one of: mnist, fashion_mnist, "
                           r"kmnist, synthetic, idx \(did you mean 'mnist'\?\)"),
    ("optimizer.name=adm", r"unknown optimizer 'adm'; choose one of: sgd, adam, adamw"),
    ("optimizer.momentun=0.9", r"unknown key 'optimizer\.momentun'.*did you mean "
                               r"'optimizer\.momentum'"),
])
def test_bad_values_say_what_is_allowed(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        config.loads("", [override])
    assert f"override '{override}'" in str(info.value)


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("seed: 1\ndata:\n  dataset: [mnist\n  root: x\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:\d+:\d+: YAML syntax error"):
        config.load(path)


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"<config>:2: duplicate key 'seed'"):
        config.loads("seed: 1\nseed: 2\n")


def test_diff_ignores_resumable_keys() -> None:
    a = config.loads("", ["train.epochs=2"])
    b = config.loads("", ["train.epochs=5", "train.progress=none"])
    assert config.diff(a, b) == []
    assert config.config_hash(a) == config.config_hash(b)
    c = config.loads("", ["optimizer.lr=0.5"])
    assert config.diff(a, c) == ["optimizer.lr: 0.01 -> 0.5"]


def test_shipped_configs_load() -> None:
    root = Path(__file__).resolve().parents[2] / "configs"
    names = {p.stem for p in root.glob("*.yaml")}
    assert {"mnist", "mnist_cnn", "fashion_mnist", "fashion_mnist_cnn", "smoke"} <= names
    fashion = config.load(root / "fashion_mnist.yaml")
    assert (fashion.optimizer.name, fashion.optimizer.lr, fashion.data.batch_size,
            fashion.train.epochs) == ("adam", 0.001, 64, 5)
    assert fashion.data.normalize == [0.2860, 0.3530]
    assert config.load(root / "mnist.yaml").data.normalize == [0.1307, 0.3081]
    assert config.load(root / "fashion_mnist_cnn.yaml").model.name == "cnn"
