"""Script exports carry an integrity checksum; the container refuses damaged headers and non-files.

Load is linear in the node count and refuses devices and FIFOs before opening them.
"""

from __future__ import annotations

import json
import os
import struct
import time

import numpy as np
import pytest

from engine.errors import ExportError
from engine.export import ExportedProgram, load, save_script
from engine.export.container import read_safetensors, write_safetensors


def _program() -> ExportedProgram:
    rng = np.random.default_rng(0)
    weights = {"fc.weight": rng.standard_normal((3, 4)).astype(np.float32),
               "fc.bias": rng.standard_normal(3).astype(np.float32)}
    graph = {"inputs": [{"name": "input", "dtype": "float32", "shape": [None, 4]}],
             "outputs": ["v1"],
             "nodes": [{"op": "linear", "name": "fc", "inputs": ["input", "fc.weight", "fc.bias"],
                        "outputs": ["v1"], "attrs": {}}]}
    return ExportedProgram(graph, weights, {}, ["a", "b", "c"])


@pytest.fixture
def saved(tmp_path):
    return save_script(_program(), tmp_path / "m.safetensors")


def _split(path):
    blob = path.read_bytes()
    (size,) = struct.unpack("<Q", blob[:8])
    return blob[8:8 + size], blob[8 + size:]


def _join(path, header: bytes, data: bytes) -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def _flip_last_weight_bit(path):
    header, data = _split(path)
    _join(path, header, data[:-1] + bytes([data[-1] ^ 1]))


def _flip_first_weight_bit(path):
    header, data = _split(path)
    _join(path, header, bytes([data[0] ^ 0x80]) + data[1:])


def _retype_f32_as_i32(path):
    header, data = _split(path)
    _join(path, header.replace(b'"F32"', b'"I32"', 1), data)


def _edit_graph_text(path):
    header, data = _split(path)
    _join(path, header.replace(b"relu", b"tanh") if b"relu" in header else
          header.replace(b'\\"fc\\"', b'\\"fd\\"'), data)


def _append_byte(path):
    path.write_bytes(path.read_bytes() + b"\0")


@pytest.mark.parametrize("damage", [_flip_last_weight_bit, _flip_first_weight_bit,
                                    _retype_f32_as_i32, _edit_graph_text, _append_byte])
def test_any_change_fails_the_checksum_naming_the_file(saved, damage):
    load(saved)
    damage(saved)
    with pytest.raises(ExportError, match="integrity checksum") as info:
        load(saved)
    assert str(saved) in str(info.value) and "\n" not in str(info.value)


def test_file_without_checksum_is_refused(saved):
    weights, meta = read_safetensors(saved)
    write_safetensors(saved, weights, meta, checksum=False)
    with pytest.raises(ExportError, match="no integrity checksum"):
        load(saved)


def test_checksum_survives_a_round_trip_and_values_are_exact(saved):
    weights, meta = read_safetensors(saved)
    assert meta["checksum"].startswith("sha256:") and len(meta["checksum"]) == 71
    for k, v in _program().weights.items():
        np.testing.assert_array_equal(weights[k], v)
    x = np.ones((2, 4), np.float32)
    w = _program().weights
    np.testing.assert_allclose(load(saved)(x), x @ w["fc.weight"].T + w["fc.bias"], atol=1e-6)


@pytest.mark.parametrize("entry, match", [
    ({"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}, "does not fit"),
    ({"dtype": "F32", "shape": [2**62, 4], "data_offsets": [0, 0]}, "does not fit"),
    ({"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}, "malformed"),
    ({"dtype": "F32", "shape": ["3"], "data_offsets": [0, 12]}, "malformed"),
    ({"dtype": "F32", "shape": [3], "data_offsets": [0]}, "malformed"),
    ({"dtype": "F32", "shape": [3], "data_offsets": [-12, 0]}, "does not fit"),
    ({"dtype": "X9", "shape": [3], "data_offsets": [0, 12]}, "malformed"),
    ("F32", "malformed"),
])
def test_malformed_header_entry(saved, entry, match):
    header, data = _split(saved)
    parsed = json.loads(header)
    parsed["fc.bias"] = entry
    _join(saved, json.dumps(parsed).encode(), data)
    with pytest.raises(ExportError, match=match):
        load(saved)


def test_deeply_nested_header(saved):
    _, data = _split(saved)
    _join(saved, b"[" * 200000 + b"]" * 200000, data)
    with pytest.raises(ExportError, match="invalid JSON header"):
        load(saved)


def test_device_and_fifo_are_refused_at_once(tmp_path):
    start = time.perf_counter()
    with pytest.raises(ExportError, match="not a regular file"):
        load("/dev/zero")
    fifo = tmp_path / "m.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(ExportError, match="not a regular file"):
        load(fifo)  # opening a FIFO with no writer would block forever
    with pytest.raises(ExportError, match="not a regular file"):
        load(tmp_path)
    assert time.perf_counter() - start < 1.0


def _chain(n: int) -> ExportedProgram:
    p = _program()
    nodes = list(p.graph["nodes"])
    for i in range(n):
        op = ("relu", "tanh", "sigmoid")[i % 3]
        nodes.append({"op": op, "name": f"a{i}", "inputs": [f"v{i + 1}"],
                      "outputs": [f"v{i + 2}"], "attrs": {}})
    graph = dict(p.graph, nodes=nodes, outputs=[f"v{n + 1}"])
    return ExportedProgram(graph, p.weights, {}, None)


def test_load_is_linear_in_the_node_count(tmp_path):
    path = save_script(_chain(16000), tmp_path / "long.safetensors")
    start = time.perf_counter()
    run = load(path)
    loaded = time.perf_counter()
    x = np.full((1, 4), 0.5, np.float32)
    out = run(x)  # the first call compiles the plan: a list scan there made it O(n^2), 40 s
    assert loaded - start < 1.0 and time.perf_counter() - loaded < 2.5
    w = _program().weights
    h = x.astype(np.float64) @ w["fc.weight"].T + w["fc.bias"]
    for i in range(16000):
        h = (np.maximum(h, 0), np.tanh(h), 1 / (1 + np.exp(-h)))[i % 3]
    np.testing.assert_allclose(out, h, atol=1e-5)


def test_large_per_sample_values_shrink_the_pass(tmp_path):
    graph = {"inputs": [{"name": "input", "dtype": "float32", "shape": [None, 1, 4096, 4096]}],
             "outputs": ["v2"],
             "nodes": [{"op": "mean", "name": "m", "inputs": ["input"], "outputs": ["v1"],
                        "attrs": {"dim": [2, 3]}},
                       {"op": "linear", "name": "fc", "inputs": ["v1", "w", "b"],
                        "outputs": ["v2"], "attrs": {}}]}
    weights = {"w": np.ones((3, 1), np.float32), "b": np.zeros(3, np.float32)}
    run = load(save_script(ExportedProgram(graph, weights, {}, None), tmp_path / "big.st"))
    assert run.chunk == 2**28 // 4096**2  # 16 rows of 16M elements per pass, not 512
    x = np.random.default_rng(0).standard_normal((3, 1, 4096, 4096), dtype=np.float32)
    np.testing.assert_allclose(run(x)[:, 0], x.mean(axis=(1, 2, 3)), atol=1e-5)
