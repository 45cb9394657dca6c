"""Channels-last raw input ("layout": "HWC"): preprocess transposes to C x H x W, never reshapes."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ExportError
from engine.export import ExportedProgram, load, save_script
from engine.export.script import preprocess

PRE = {"input": {"dtype": "uint8", "shape": [2, 4, 3], "layout": "HWC"}, "scale": 1 / 255,
       "mean": [0.1, 0.2, 0.3], "std": [0.5, 0.25, 0.125]}


def _expected(raw: np.ndarray) -> np.ndarray:
    mean = np.array(PRE["mean"])[:, None, None]
    std = np.array(PRE["std"])[:, None, None]
    return (raw.transpose(0, 3, 1, 2) / 255.0 - mean) / std


def test_channels_last_raw_images_are_transposed_per_channel():
    raw = np.random.default_rng(0).integers(0, 256, (5, 2, 4, 3), dtype=np.uint8)
    x = preprocess(raw, PRE, [3, 2, 4])
    assert x.shape == (5, 3, 2, 4) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x, _expected(raw), rtol=1e-6, atol=1e-6)
    # Already channels-first input of the spec's shape passes through without a transpose.
    chw = raw.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(preprocess(chw, PRE, [3, 2, 4]), _expected(raw), atol=1e-6)


def test_grey_raw_images_without_layout_are_unchanged():
    raw = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    p = {"input": {"dtype": "uint8", "shape": [3, 3]}, "scale": 1.0, "mean": [1.0], "std": [2.0]}
    np.testing.assert_allclose(preprocess(raw, p, [1, 3, 3]), (raw[:, None] - 1.0) / 2.0)


def _program(pre: dict) -> ExportedProgram:
    graph = {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [None, 3, 2, 4]}],
        "outputs": ["v1"],
        "nodes": [{"op": "flatten", "name": "flat", "inputs": ["input"], "outputs": ["v1"],
                   "attrs": {"start_dim": 1, "end_dim": 3}}],
    }
    return ExportedProgram(graph, {}, pre, None)


def test_script_file_with_channels_last_input_round_trips(tmp_path):
    run = load(save_script(_program(PRE), tmp_path / "m.safetensors"))
    raw = np.random.default_rng(1).integers(0, 256, (4, 2, 4, 3), dtype=np.uint8)
    np.testing.assert_allclose(run(run.preprocess(raw)), _expected(raw).reshape(4, -1),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("raw_input", [
    {"dtype": "uint8", "shape": [2, 4, 3], "layout": "CHW"},
    {"dtype": "uint8", "shape": [4, 2, 3], "layout": "HWC"},  # same size, wrong order
    {"dtype": "uint8", "shape": [24], "layout": "HWC"},
])
def test_a_layout_that_does_not_fit_the_spec_is_refused_at_load(tmp_path, raw_input):
    path = save_script(_program({**PRE, "input": raw_input}), tmp_path / "m.safetensors")
    with pytest.raises(ExportError, match=r"metadata 'preprocessing': input layout .* does not "
                                          r"fit the input spec \[None, 3, 2, 4\]"):
        load(path)
