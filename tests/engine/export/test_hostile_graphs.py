"""Tampered script exports: every malformed graph is one ExportError, found at load and quickly.

Each case edits the graph JSON (or other metadata) of a real traced export and rewrites the file
through the container writer, so the integrity checksum is valid and the graph check itself is
what must refuse it.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import engine
from engine import nn
from engine.errors import ExportError
from engine.export import load, save_script, trace
from engine.export.container import read_safetensors, write_safetensors


def _model() -> nn.Module:
    engine.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8, 3))


@pytest.fixture(scope="module")
def program():
    return trace(_model(), engine.zeros(2, 1, 8, 8))


@pytest.fixture
def saved(program, tmp_path):
    return save_script(program, tmp_path / "m.safetensors")


def _node(graph: dict, op: str) -> dict:
    return next(n for n in graph["nodes"] if n["op"] == op)


def _set(op: str, **attrs):
    def edit(g):
        _node(g, op)["attrs"].update(attrs)
    return edit


def _insert_after_flatten(node: dict):
    """Insert node after flatten, consuming its output, and rewire the linear to read node's."""
    def edit(g):
        flat = _node(g, "flatten")
        lin = _node(g, "linear")
        node2 = dict(node, inputs=[flat["outputs"][0]] + node.get("extra", []), outputs=["t1"])
        node2.pop("extra", None)
        g["nodes"].insert(g["nodes"].index(lin), node2)
        lin["inputs"][0] = "t1"
    return edit


def _cycle(g):
    g["nodes"][0]["inputs"][0] = g["nodes"][1]["outputs"][0]


CASES = {
    "nodes_is_int": (lambda g: g.update(nodes=5), "nodes"),
    "graph_is_list": (lambda g: (g.clear(), g.update(x=1)), "graph"),
    "outputs_empty": (lambda g: g.update(outputs=[]), "output"),
    "outputs_not_strings": (lambda g: g.update(outputs=[["v1"]]), "output"),
    "inputs_missing": (lambda g: g.update(inputs=[]), "input"),
    "inputs_key_missing": (lambda g: g.pop("inputs"), "inputs"),
    "input_dtype_float64": (lambda g: g["inputs"][0].update(dtype="float64"), "float32"),
    "input_shape_wraps_int64": (
        lambda g: g["inputs"][0].update(shape=[None, 1, 2**32, 2**32]), "budget|too large"),
    "input_shape_negative": (lambda g: g["inputs"][0].update(shape=[None, 1, -8, 8]), "shape"),
    "input_shape_string": (lambda g: g["inputs"][0].update(shape=[None, 1, "8", 8]), "shape"),
    "unknown_op": (lambda g: g["nodes"][1].update(op="os.system"), "unknown op"),
    "node_not_object": (lambda g: g["nodes"].insert(0, "relu"), "node 0"),
    "node_extra_key": (lambda g: g["nodes"][0].update(w=[[1.0]]), "unknown key"),
    "cycle": (_cycle, "dangling|no graph input"),
    "undefined_value": (lambda g: g["nodes"][2]["inputs"].__setitem__(0, "nowhere"),
                        "nowhere"),
    "input_name_not_string": (lambda g: g["nodes"][1]["inputs"].__setitem__(0, [1]), "node 1"),
    "wrong_arity_relu": (lambda g: g["nodes"][1]["inputs"].append("input"), "inputs"),
    "redefined_value": (lambda g: g["nodes"][1].update(outputs=["input"]), "redefines"),
    "string_stride": (_set("conv2d", stride=["1", "1"]), "stride"),
    "bool_groups": (_set("conv2d", groups=True), "groups"),
    "zero_stride": (_set("conv2d", stride=[0, 1]), "stride"),
    "negative_pads": (_set("conv2d", pads=[-1, 0, 0, 0]), "pad"),
    "huge_conv_padding": (_set("conv2d", pads=[20000] * 4), "budget"),
    "huge_adaptive_output": (_set("adaptive_avg_pool2d", output_size=[100000, 100000]), "budget"),
    "adaptive_bins_loop": (_set("adaptive_avg_pool2d", output_size=[3000, 3000]), "budget"),
    "pool_kernel_bigger_than_input": (_set("max_pool2d", kernel_size=[1000, 1000]), "kernel"),
    "pool_kernel_padded_huge": (
        _set("max_pool2d", kernel_size=[1000, 1000], padding=[500, 500]), "budget"),
    "pool_string_ceil": (_set("max_pool2d", ceil_mode="yes"), "ceil_mode"),
    "pool_unknown_attr": (_set("max_pool2d", divisor=3), "unknown attribute"),
    "nodes_is_object": (lambda g: g.update(nodes={"0": g["nodes"][0]}), "nodes"),
    "transpose_float_perm": (_insert_after_flatten(
        {"op": "transpose", "name": "t", "attrs": {"perm": [0, 1.5]}}), "perm"),
    "transpose_moves_batch": (_insert_after_flatten(
        {"op": "transpose", "name": "t", "attrs": {"perm": [1, 0]}}), "batch"),
    "reshape_wraps": (_insert_after_flatten(
        {"op": "reshape", "name": "r", "attrs": {"shape": [0, 2**62, 2**62, 0]}}), "reshape"),
    "reshape_string": (_insert_after_flatten(
        {"op": "reshape", "name": "r", "attrs": {"shape": "8"}}), "shape"),
    "softmax_dim_string": (_insert_after_flatten(
        {"op": "softmax", "name": "s", "attrs": {"dim": "1"}}), "dim"),
    "softmax_dim_out_of_range": (_insert_after_flatten(
        {"op": "softmax", "name": "s", "attrs": {"dim": 7}}), "dim"),
    "mean_duplicate_dims": (_insert_after_flatten(
        {"op": "mean", "name": "m", "attrs": {"dim": [1, 1], "keepdim": True}}), "dim"),
    "mean_over_batch": (_insert_after_flatten(
        {"op": "mean", "name": "m", "attrs": {"dim": [0], "keepdim": True}}), "batch"),
    "gelu_bad_approximate": (_insert_after_flatten(
        {"op": "gelu", "name": "g", "attrs": {"approximate": "exact!"}}), "approximate"),
    "leaky_slope_string": (_insert_after_flatten(
        {"op": "leaky_relu", "name": "l", "attrs": {"negative_slope": "0.1"}}), "negative_slope"),
    "leaky_slope_nan": (_insert_after_flatten(
        {"op": "leaky_relu", "name": "l", "attrs": {"negative_slope": float("nan")}}),
        "negative_slope"),
    "matmul_batch_contracted": (_insert_after_flatten(
        {"op": "matmul", "name": "mm", "extra": ["input"], "attrs": {}}), "multiplied|batch"),
    "cat_dim_string": (_insert_after_flatten(
        {"op": "cat", "name": "c", "attrs": {"dim": "x"}}), "dim"),
    "attrs_not_object": (lambda g: g["nodes"][1].update(attrs=[1]), "attrs"),
    "linear_weight_is_activation": (
        lambda g: _node(g, "linear")["inputs"].__setitem__(1, "input"), "weight"),
    "output_not_batched": (lambda g: g.update(outputs=["0.weight"]), "batch"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampered_graph_is_one_export_error(saved, case):
    edit, match = CASES[case]
    weights, meta = read_safetensors(saved, verify=False)
    graph = json.loads(meta["graph"])
    edit(graph)
    meta["graph"] = json.dumps(graph)
    write_safetensors(saved, weights, meta)
    start = time.perf_counter()
    with pytest.raises(ExportError, match=match) as info:
        load(saved)
    assert time.perf_counter() - start < 2.0
    assert "\n" not in str(info.value) and len(str(info.value)) < 600
    assert str(saved) in str(info.value)


def _meta_edit(key: str, value: str):
    def edit(meta):
        meta[key] = value
    return edit


META_CASES = {
    "classes_not_strings": (_meta_edit("classes", "[1, 2, 3]"), "classes"),
    "classes_wrong_count": (_meta_edit("classes", '["a"]'), "classes"),
    "preprocessing_scale_string": (_meta_edit("preprocessing", '{"scale": "x"}'), "scale"),
    "preprocessing_std_zero": (
        _meta_edit("preprocessing", '{"scale": 1, "mean": [0], "std": [0]}'), "std"),
    "preprocessing_not_object": (_meta_edit("preprocessing", "[]"), "preprocessing"),
    "preprocessing_input_shape_mismatch": (
        _meta_edit("preprocessing", '{"input": {"dtype": "uint8", "shape": [7, 7]}}'), "shape"),
    "graph_deeply_nested": (_meta_edit("graph", "[" * 100000 + "]" * 100000), "graph"),
    "graph_not_json": (_meta_edit("graph", "{nope"), "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(META_CASES))
def test_tampered_metadata_is_one_export_error(saved, case):
    edit, match = META_CASES[case]
    weights, meta = read_safetensors(saved, verify=False)
    edit(meta)
    write_safetensors(saved, weights, meta)
    with pytest.raises(ExportError, match=match) as info:
        load(saved)
    assert "\n" not in str(info.value) and str(saved) in str(info.value)


def test_weights_must_be_float32(saved):
    weights, meta = read_safetensors(saved, verify=False)
    weights["5.bias"] = weights["5.bias"].astype(np.int32)
    write_safetensors(saved, weights, meta)
    with pytest.raises(ExportError, match="5.bias.*float32"):
        load(saved)


def test_untampered_export_still_matches_the_model(program, saved):
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    with engine.no_grad():
        expected = _model().eval()(engine.tensor(x)).numpy()
    np.testing.assert_allclose(load(saved)(x), expected, atol=1e-5)
