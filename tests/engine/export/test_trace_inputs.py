"""trace leaves the caller's example input alone and refuses non-float32 weights with one line."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.export as ex
import engine.nn.functional as F
from engine import nn
from engine.errors import ExportError


class InplaceInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(F.relu(x, inplace=True))


def test_example_input_is_not_written_by_an_inplace_forward() -> None:
    en.manual_seed(0)
    model = InplaceInput()
    x = en.tensor([[-1.0, 2.0, -3.0]])
    prog = ex.trace(model, x)
    np.testing.assert_array_equal(x.numpy(), [[-1.0, 2.0, -3.0]])
    raw = np.array([[-1.0, 2.0, -3.0]], np.float32)
    expected = model(en.tensor(raw.copy())).detach().numpy()
    np.testing.assert_allclose(prog.module()(raw), expected, atol=1e-6)
    np.testing.assert_array_equal(raw, [[-1.0, 2.0, -3.0]])


def test_float64_model_is_refused_with_export_error() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU()).double()
    with pytest.raises(ExportError, match=r"Sequential '0.weight' is float64; export computes in "
                                          r"float32: export model.float\(\)"):
        ex.trace(model, en.zeros(2, 3))


def test_integer_buffers_are_allowed() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten())
    prog = ex.trace(model, en.zeros(2, 1, 5, 5))  # num_batches_tracked is int64
    assert prog.graph["inputs"][0]["shape"] == [None, 1, 5, 5]
