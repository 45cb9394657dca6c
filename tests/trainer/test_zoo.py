"""Model zoo: the built-in models' shapes and keys, the registry and import-path models."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import engine as en
from engine import nn
from engine.errors import ConfigError
from trainer import zoo


def test_registry_lists_builtins() -> None:
    assert {"mlp", "cnn", "lstm"} <= set(zoo.list_models())
    assert zoo.list_models() == sorted(zoo.MODELS)
    assert zoo.MODELS["mlp"] is zoo.MLP and zoo.MODELS["cnn"] is zoo.SmallCNN
    assert zoo.MODELS["lstm"] is zoo.RowLSTM


def test_mlp_layout_and_options() -> None:
    model = zoo.build_model("mlp")
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == [
        ("net.1.weight", (128, 784)), ("net.1.bias", (128,)),
        ("net.3.weight", (10, 128)), ("net.3.bias", (10,))]
    assert model(en.randn(5, 1, 28, 28)).shape == (5, 10)  # flattens its input
    deep = zoo.MLP(in_features=12, hidden=(8, 6), num_classes=3, activation="gelu", dropout=0.1)
    kinds = [type(m).__name__ for m in deep.net]
    assert kinds == ["Flatten", "Linear", "GELU", "Dropout", "Linear", "GELU", "Dropout",
                     "Linear"]
    assert deep(en.randn(4, 12)).shape == (4, 3)
    with pytest.raises(ConfigError, match="unknown activation 'swish'"):
        zoo.MLP(activation="swish")


def test_small_cnn_is_exactly_the_benchmark_network() -> None:
    model = zoo.build_model("cnn", num_classes=10)
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert shapes == [
        ("features.0.weight", (16, 1, 3, 3)), ("features.0.bias", (16,)),
        ("features.3.weight", (32, 16, 3, 3)), ("features.3.bias", (32,)),
        ("classifier.1.weight", (128, 1568)), ("classifier.1.bias", (128,)),
        ("classifier.3.weight", (10, 128)), ("classifier.3.bias", (10,))]
    conv = model.features[0]
    assert conv.padding == (1, 1) and conv.stride == (1, 1)
    assert isinstance(model.features[2], nn.MaxPool2d) and model.features[2].kernel_size == 2
    out = model(en.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    assert zoo.SmallCNN(in_channels=3)(en.randn(1, 3, 28, 28)).shape == (1, 10)


def test_small_cnn_sized_for_other_images() -> None:
    model = zoo.build_model("cnn", num_classes=4, in_channels=3, input_size=[32, 20])
    assert model.input_shape == (3, 32, 20)
    assert tuple(model.classifier[1].weight.shape) == (128, 32 * 8 * 5)
    assert model(en.randn(2, 3, 32, 20)).shape == (2, 4)
    assert zoo.SmallCNN(input_size=16).input_shape == (1, 16, 16)
    for bad in (3, [16], [16, 2.5], True):
        with pytest.raises(ConfigError, match=r"cnn: input_size must be an integer or "
                                              r"\[height, width\], each at least 4"):
            zoo.SmallCNN(input_size=bad)


def test_unknown_name_lists_choices_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        zoo.build_model("mpl")
    msg = str(info.value)
    assert "unknown model 'mpl'" in msg and "cnn, lstm, mlp" in msg and "Did you mean 'mlp'?" in msg


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="model 'mlp': bad arguments \\['widths'\\]"):
        zoo.build_model("mlp", widths=3)


def test_import_path_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "usermodels"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(textwrap.dedent("""
        from engine import nn

        class Tiny(nn.Module):
            def __init__(self, width=4):
                super().__init__()
                self.fc = nn.Linear(3, width)

            def forward(self, x):
                return self.fc(x)

        NOT_A_MODEL = 3

        def make_plain():
            return object()
    """))
    (pkg / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = zoo.build_model("usermodels.nets:Tiny", width=5)
    assert model(en.ones(2, 3)).shape == (2, 5)
    with pytest.raises(ConfigError, match="cannot import module 'usermodels.nope'"):
        zoo.build_model("usermodels.nope:Tiny")
    with pytest.raises(ConfigError, match="RuntimeError: boom at import"):
        zoo.build_model("usermodels.broken:Tiny")
    with pytest.raises(ConfigError, match="has no attribute 'Huge'"):
        zoo.build_model("usermodels.nets:Huge")
    with pytest.raises(ConfigError, match="'NOT_A_MODEL' is a int, not an engine.nn.Module"):
        zoo.build_model("usermodels.nets:NOT_A_MODEL")
    with pytest.raises(ConfigError, match="'make_plain' is a function, not an engine.nn.Module"):
        zoo.build_model("usermodels.nets:make_plain")
    with pytest.raises(ConfigError, match="must look like 'package.module:Class'"):
        zoo.build_model("usermodels.nets:")
    for name in [n for n in sys.modules if n.startswith("usermodels")]:
        monkeypatch.delitem(sys.modules, name)


def test_register_model_decorator() -> None:
    @zoo.register_model("tiny_test_model")
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

    try:
        assert "tiny_test_model" in zoo.list_models()
        assert isinstance(zoo.build_model("tiny_test_model"), Tiny)
        with pytest.raises(ConfigError, match="already registered"):
            zoo.register_model("tiny_test_model")(zoo.MLP)
    finally:
        zoo.MODELS.pop("tiny_test_model")


def test_same_seed_same_weights() -> None:
    en.manual_seed(5)
    a = zoo.build_model("cnn")
    en.manual_seed(5)
    b = zoo.build_model("cnn")
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=k)


def test_row_lstm_layout_and_options() -> None:
    model = zoo.build_model("lstm")
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == [
        ("lstm.weight_ih_l0", (512, 28)), ("lstm.weight_hh_l0", (512, 128)),
        ("lstm.bias_ih_l0", (512,)), ("lstm.bias_hh_l0", (512,)),
        ("fc.weight", (10, 128)), ("fc.bias", (10,))]
    assert model.lstm.batch_first and model.lstm.hidden_size == 128
    assert model(en.randn(3, 1, 28, 28)).shape == (3, 10)
    deep = zoo.RowLSTM(hidden_size=8, num_layers=2, bidirectional=True, dropout=0.2,
                       num_classes=4)
    assert deep.lstm.num_layers == 2 and deep.lstm.dropout == 0.2
    assert deep.fc.weight.shape == (4, 16)  # both directions' final states
    assert deep(en.randn(2, 1, 28, 28)).shape == (2, 4)
    with pytest.raises(ConfigError, match="lstm: hidden_size must be a positive integer"):
        zoo.RowLSTM(hidden_size=0)
    with pytest.raises(ConfigError, match="lstm: dropout must be in \\[0, 1\\)"):
        zoo.RowLSTM(dropout=1.0)


def test_row_lstm_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")

    class TorchRowLSTM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(28, 16, 2, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(32, 10)

        def forward(self, x: object) -> object:
            _, (h_n, _) = self.lstm(x.reshape(x.shape[0], -1, 28))
            return self.fc(torch.cat([h_n[-2], h_n[-1]], 1))

    theirs = TorchRowLSTM()
    ours = zoo.RowLSTM(hidden_size=16, num_layers=2, bidirectional=True)
    ours.load_state_dict({k: en.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    y = np.array([1, 3, 5, 7])
    loss = nn.functional.cross_entropy(ours(en.tensor(x)), en.tensor(y))
    t_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
    assert loss.item() == pytest.approx(t_loss.item(), abs=1e-5)
    loss.backward()
    t_loss.backward()
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), atol=1e-5,
                                   rtol=1e-4, err_msg=name)
