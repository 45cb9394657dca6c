"""The script file format: round trip, safetensors compatibility, and every kind of damage."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from engine.errors import ExportError
from engine.export import ExportedProgram, load, save_script
from engine.export.container import read_safetensors, write_safetensors


def _program() -> ExportedProgram:
    rng = np.random.default_rng(0)
    weights = {
        "fc1.weight": rng.standard_normal((8, 5)).astype(np.float32),
        "fc1.bias": rng.standard_normal(8).astype(np.float32),
        "fc2.weight": rng.standard_normal((3, 8)).astype(np.float32),
        "fc2.bias": rng.standard_normal(3).astype(np.float32),
    }
    graph = {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [None, 5]}],
        "outputs": ["v3"],
        "nodes": [
            {"op": "linear", "name": "fc1", "inputs": ["input", "fc1.weight", "fc1.bias"],
             "outputs": ["v1"], "attrs": {}},
            {"op": "relu", "name": "act", "inputs": ["v1"], "outputs": ["v2"], "attrs": {}},
            {"op": "linear", "name": "fc2", "inputs": ["v2", "fc2.weight", "fc2.bias"],
             "outputs": ["v3"], "attrs": {}},
        ],
    }
    pre = {"input": {"dtype": "uint8", "shape": [5]}, "scale": 1 / 255, "mean": [0.5],
           "std": [0.25]}
    return ExportedProgram(graph, weights, pre, ["a", "b", "c"])


def _reference(p: ExportedProgram, x: np.ndarray) -> np.ndarray:
    w = {k: v.astype(np.float64) for k, v in p.weights.items()}
    h = np.maximum(x @ w["fc1.weight"].T + w["fc1.bias"], 0)
    return h @ w["fc2.weight"].T + w["fc2.bias"]


@pytest.fixture
def saved(tmp_path):
    path = save_script(_program(), tmp_path / "m.safetensors")
    return path


def test_round_trip_matches_numpy_reference(saved):
    run = load(saved)
    x = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float32)
    out = run(x)
    assert out.dtype == np.float32 and out.shape == (7, 3)
    np.testing.assert_allclose(out, _reference(_program(), x), atol=1e-5)
    assert run.classes == ["a", "b", "c"]
    assert run.input_spec["shape"] == [None, 5]


def test_preprocess_applies_scale_and_normalisation(saved):
    run = load(saved)
    raw = np.array([[0, 51, 102, 204, 255]], dtype=np.uint8)
    expected = (raw / 255.0 - 0.5) / 0.25
    np.testing.assert_allclose(run.preprocess(raw), expected, atol=1e-6)
    probs = run.predict_proba(raw)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_large_batch_is_chunked_with_same_result(saved):
    run = load(saved)
    run.chunk = 4
    x = np.random.default_rng(2).standard_normal((11, 5)).astype(np.float32)
    np.testing.assert_allclose(run(x), _reference(_program(), x), atol=1e-5)


def test_file_is_valid_safetensors(saved):
    st = pytest.importorskip("safetensors.numpy")
    tensors = st.load_file(str(saved))
    for k, v in _program().weights.items():
        np.testing.assert_array_equal(tensors[k], v)
    from safetensors import safe_open

    with safe_open(str(saved), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "gradwell.script" and meta["version"] == "2"
    assert meta["checksum"].startswith("sha256:")
    assert json.loads(meta["graph"])["nodes"][0]["op"] == "linear"


def test_wrong_input_shape_is_rejected(saved):
    with pytest.raises(ExportError, match=r"does not match the exported input spec"):
        load(saved)(np.zeros((2, 6), np.float32))


# ----- damaged files -----------------------------------------------------------------------
def _rewrite(path, edit_graph=None, edit_weights=None, edit_meta=None):
    weights, meta = read_safetensors(path)
    if edit_graph:
        graph = json.loads(meta["graph"])
        edit_graph(graph)
        meta["graph"] = json.dumps(graph)
    if edit_weights:
        edit_weights(weights)
    if edit_meta:
        edit_meta(meta)
    write_safetensors(path, weights, meta)


def test_truncated_file(saved):
    blob = saved.read_bytes()
    saved.write_bytes(blob[:-10])
    with pytest.raises(ExportError, match="truncated"):
        load(saved)
    saved.write_bytes(blob[:5])
    with pytest.raises(ExportError, match="truncated"):
        load(saved)


def test_missing_weight(saved):
    _rewrite(saved, edit_weights=lambda w: w.pop("fc2.weight"))
    with pytest.raises(ExportError, match=r"weight 'fc2.weight', which is missing from"):
        load(saved)


def test_unknown_op(saved):
    def edit(g):
        g["nodes"][1]["op"] = "__import__('os').system"

    _rewrite(saved, edit_graph=edit)
    with pytest.raises(ExportError, match=r"unknown op '__import__\('os'\).system'"):
        load(saved)


def test_weight_shape_mismatch(saved):
    def edit(w):
        w["fc2.weight"] = np.zeros((3, 9), np.float32)

    _rewrite(saved, edit_weights=edit)
    with pytest.raises(ExportError, match=r"fc2.*shape mismatch.*\[None, 8\].*\[3, 9\]"):
        load(saved)


def test_bias_shape_mismatch(saved):
    _rewrite(saved, edit_weights=lambda w: w.update({"fc1.bias": np.zeros(7, np.float32)}))
    with pytest.raises(ExportError, match=r"shape mismatch: bias \[7\]"):
        load(saved)


def test_invalid_header_json(saved):
    blob = bytearray(saved.read_bytes())
    blob[8] = ord("!")  # the header's opening brace
    saved.write_bytes(bytes(blob))
    with pytest.raises(ExportError, match="invalid JSON header"):
        load(saved)


def test_invalid_graph_json(saved):
    _rewrite(saved, edit_meta=lambda m: m.update({"graph": "{not json"}))
    with pytest.raises(ExportError, match="metadata 'graph' is not valid JSON"):
        load(saved)


def test_dangling_edge(saved):
    def edit(g):
        g["nodes"][2]["inputs"][0] = "v99"

    _rewrite(saved, edit_graph=edit)
    with pytest.raises(ExportError, match=r"reads value 'v99'.*\(dangling edge\)"):
        load(saved)
    save_script(_program(), saved)
    _rewrite(saved, edit_graph=lambda g: g.update({"outputs": ["nowhere"]}))
    with pytest.raises(ExportError, match="dangling edge"):
        load(saved)


def test_header_length_beyond_file(saved):
    blob = saved.read_bytes()
    saved.write_bytes(struct.pack("<Q", len(blob) * 2) + blob[8:])
    with pytest.raises(ExportError, match="truncated or not a valid safetensors file"):
        load(saved)


def test_not_a_script_and_wrong_version(saved, tmp_path):
    other = write_safetensors(tmp_path / "state.safetensors", {"w": np.zeros(2, np.float32)}, {})
    with pytest.raises(ExportError, match="not a script export"):
        load(other)
    _rewrite(saved, edit_meta=lambda m: m.update({"version": "99"}))
    with pytest.raises(ExportError, match="version '99' is not supported"):
        load(saved)


def test_missing_file(tmp_path):
    with pytest.raises(ExportError, match="cannot read exported model"):
        load(tmp_path / "nope.safetensors")
