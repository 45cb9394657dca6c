"""engine.nn.summary: parameter counts, output shapes, sizes, and a forward that changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import nn


def _shared_frozen() -> nn.Module:
    """Two uses of one Linear (shared weights) and a frozen embedding-like first layer."""

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frozen = nn.Linear(8, 6)
            self.frozen.requires_grad_(False)
            self.shared = nn.Linear(6, 6)
            self.alias = self.shared  # the same module under a second name
            self.head = nn.Linear(6, 3, bias=False)

        def forward(self, x):
            return self.head(self.alias(self.shared(self.frozen(x)).relu()))

    return Tied()


def test_shared_and_frozen_parameters_are_split_and_counted_once() -> None:
    model = _shared_frozen()
    s = nn.summary(model, (8,), batch_size=4)
    unique = sum(p.numel() for p in model.parameters())
    assert unique == 8 * 6 + 6 + 6 * 6 + 6 + 6 * 3 == 114
    assert s.total_params == unique
    assert s.non_trainable_params == 8 * 6 + 6 == 54
    assert s.trainable_params == 60
    assert sum(layer.params for layer in s.layers) == 114  # shared weights are not doubled
    by_name = {layer.name: layer for layer in s.layers}
    assert "alias" not in by_name  # the module appears once, under its first name
    assert by_name["frozen"].trainable == 0 and by_name["frozen"].params == 54
    assert by_name["shared"].output_shapes == [(4, 6)]  # its first call
    assert by_name["head"].output_shapes == [(4, 3)] and by_name[""].output_shapes == [(4, 3)]
    text = str(s)
    assert "Total params: 114" in text and "Trainable params: 60" in text
    assert "Non-trainable params: 54" in text


def test_output_shapes_match_a_forward_layer_by_layer() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 5 * 6, 7))
    s = nn.summary(model, (3, 10, 12), batch_size=2)
    x = engine.zeros(2, 3, 10, 12)
    model.eval()
    expected = []
    with engine.no_grad():
        for layer in model:
            x = layer(x)
            expected.append([tuple(x.shape)])
    model.train()
    assert [layer.output_shapes for layer in s.layers[1:]] == expected
    assert expected[-1] == [(2, 7)] and s.layers[0].output_shapes == [(2, 7)]
    assert [layer.params for layer in s.layers[1:]] == [3 * 4 * 9 + 4, 8, 0, 0, 0, 120 * 7 + 7]
    assert s.input_shapes == [(2, 3, 10, 12)]


def test_sizes_count_parameters_and_buffers_at_their_item_size() -> None:
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4))
    s = nn.summary(model, (5,), batch_size=3)
    assert s.param_bytes == (5 * 4 + 4 + 4 + 4) * 4
    # running_mean, running_var (float32) and num_batches_tracked (int64)
    assert s.buffer_bytes == 4 * 4 * 2 + 8
    assert s.size_mb == pytest.approx((s.param_bytes + s.buffer_bytes) / 2 ** 20)
    model.double()
    assert nn.summary(model, (5,), dtype=engine.float64).param_bytes == (5 * 4 + 12) * 8
    assert f"Model size (MB): {s.size_mb:.2f}" in str(s)


def test_summary_leaves_mode_state_and_random_numbers_alone() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Dropout(0.5))
    model.train()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    engine.manual_seed(7)
    nn.summary(model, (3,), batch_size=4)
    drawn = engine.rand(3).numpy()
    engine.manual_seed(7)
    assert np.array_equal(drawn, engine.rand(3).numpy())
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k].numpy()) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())


def test_an_unused_module_shows_no_shape_and_several_inputs_are_fed() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.unused = nn.Linear(2, 3), nn.Linear(4, 3), nn.Linear(1, 1)

        def forward(self, x, y):
            return self.a(x) + self.b(y)

    s = nn.summary(Two(), [(2,), (4,)], batch_size=5)
    assert s.input_shapes == [(5, 2), (5, 4)]
    assert {layer.name: layer.output_shapes for layer in s.layers}["unused"] is None
    (row,) = [line for line in str(s).splitlines() if line.strip().startswith("unused")]
    assert row.split() == ["unused", "Linear", "--", "2"]


@pytest.mark.parametrize("bad", [(), (0, 3), ("a",), 5])
def test_bad_input_size_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="input_size"):
        nn.summary(nn.Linear(3, 3), bad)
