"""Model summaries of the zoo's models, in a run folder and from `trainer summary`."""

from __future__ import annotations

import engine
from engine import nn
from trainer import config as config_mod
from trainer.summary import FILE, model_summary
from trainer.zoo import build_model


def _forward_shape(model, shape) -> tuple[int, ...]:
    model.eval()
    with engine.no_grad():
        return tuple(model(engine.zeros(*shape)).shape)


def test_zoo_models_count_every_parameter_and_match_a_forward() -> None:
    counts = {}
    for name, kwargs in (("mlp", {"hidden": [32, 16]}), ("cnn", {}), ("lstm", {"hidden_size": 8}),
                         ("lstm", {"hidden_size": 8, "num_layers": 2, "bidirectional": True})):
        model = build_model(name, **kwargs)
        s = nn.summary(model, (1, 28, 28), batch_size=3)
        total = sum(p.numel() for p in model.parameters())
        assert s.total_params == s.trainable_params == total
        assert sum(layer.params for layer in s.layers) == total
        assert s.layers[0].output_shapes == [_forward_shape(model, (3, 1, 28, 28))] == [(3, 10)]
        assert f"Total params: {total:,}" in str(s)
        counts[(name, len(kwargs))] = total
    # By hand: 784*32+32 + 32*16+16 + 16*10+10; the CNN's two convs and two Linears.
    assert counts[("mlp", 1)] == 25120 + 528 + 170
    assert counts[("cnn", 0)] == 160 + 4640 + 1568 * 128 + 128 + 1290
    assert counts[("lstm", 1)] == 4 * 8 * (28 + 8 + 2) + 8 * 10 + 10


def test_cnn_layer_shapes_follow_the_image(tmp_path) -> None:
    model = build_model("cnn", input_size=[12, 16])
    by_name = {layer.name: layer for layer in nn.summary(model, (1, 12, 16)).layers}
    assert by_name["features.2"].output_shapes == [(1, 16, 6, 8)]
    assert by_name["features"].output_shapes == [(1, 32, 3, 4)]
    assert by_name["classifier.1"].params == 32 * 3 * 4 * 128 + 128


def test_frozen_layers_of_a_built_model_are_non_trainable() -> None:
    model = build_model("mlp", hidden=[8])
    model.net[1].requires_grad_(False)
    s = nn.summary(model, (1, 28, 28))
    assert s.non_trainable_params == 784 * 8 + 8
    assert s.trainable_params == 8 * 10 + 10 == s.total_params - s.non_trainable_params


def test_a_run_writes_summary_txt_and_prints_it(cli, tiny_config, tmp_path) -> None:
    run = tmp_path / "runs" / "s"
    result = cli("train", tiny_config, "--run-dir", run, "--progress", "log", "train.epochs=1")
    assert result.exit_code == 0, result.output
    text = (run / FILE).read_text()
    expected = str(model_summary(config_mod.load(run / "config.yaml")))
    assert text == expected + "\n"
    assert "Total params: 12,730" in text  # 784*16+16 + 16*10+10
    assert expected in result.output
    quiet = cli("train", tiny_config, "--run-dir", tmp_path / "runs" / "q", "--progress", "none",
                "train.epochs=1")
    assert quiet.exit_code == 0 and "Total params" not in quiet.output
    assert (tmp_path / "runs" / "q" / FILE).read_text() == text


def test_summary_command_prints_the_total(cli, tmp_path) -> None:
    result = cli("summary", "configs/smoke.yaml")
    assert result.exit_code == 0, result.output
    assert "Total params: 50,890" in result.output  # 784*64+64 + 64*10+10
    assert "[1, 1, 28, 28]" in result.output and "net.1" in result.output
    wider = cli("summary", "configs/smoke.yaml", "model.hidden=[100]")
    assert "Total params: 79,510" in wider.output  # 784*100+100 + 100*10+10
    bad = cli("summary", "configs/smoke.yaml", "model.hiddn=[3]")
    assert bad.exit_code == 2 and "model.hiddn" in bad.output


def test_a_model_whose_forward_fails_is_one_data_error(tmp_path, monkeypatch) -> None:
    import sys
    import textwrap

    import pytest

    from engine.errors import DataError
    from trainer.summary import summarize

    (tmp_path / "summary_bad_nets.py").write_text(textwrap.dedent("""
        from engine import nn

        class Bad(nn.Module):
            def __init__(self, num_classes=10):
                super().__init__()
                self.fc = nn.Linear(5, num_classes)

            def forward(self, x):
                return self.fc(x)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("name: s\ndata:\n  dataset: synthetic\nmodel:\n  name: summary_bad_nets:Bad\n")
    with pytest.raises(DataError, match=r"^the model \(summary_bad_nets:Bad\) fails on one "
                                        r"1x28x28 input: RuntimeError: mat1 and mat2"):
        summarize(cfg)
    monkeypatch.delitem(sys.modules, "summary_bad_nets")
