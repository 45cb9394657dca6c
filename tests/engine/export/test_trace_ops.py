"""Tracing beyond the zoo: every supported op against the engine's own eval, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
import engine.export as ex
import engine.nn.functional as F
from engine import nn
from engine.errors import ExportError


class Wide(nn.Module):
    """Covers strided/dilated/grouped/'same' convs, all pools, BatchNorm1d, cat, permute, ..."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)
        self.c3 = nn.Conv2d(8, 6, 2, padding="same")
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.ada = nn.AdaptiveAvgPool2d((2, 2))
        self.leaky = nn.LeakyReLU(0.2)
        self.bn = nn.BatchNorm1d(24)
        self.fc = nn.Linear(24, 5)
        self.soft = nn.LogSoftmax(dim=1)

    def forward(self, x):
        h = self.leaky(self.c1(x))
        h = F.max_pool2d(self.c2(h).tanh(), 2, 1, ceil_mode=True)
        h = self.avg(self.c3(h).sigmoid())
        g = h.mean((2, 3), keepdim=True) * 0.5
        h = self.ada(h) - g
        t = h.permute(0, 2, 3, 1).reshape(h.shape[0], 4, 6)  # (N, 4 cells, 6 channels)
        attn = (t @ t.transpose(1, 2)).softmax(-1)  # (N, 4, 4)
        h = en.cat([(attn @ t).flatten(1), h.flatten(1)], dim=1)  # (N, 48)
        h = h.view(h.size(0), 2, 24).mean(1)
        return self.soft(self.fc(F.gelu(self.bn(h), approximate="tanh")) / 2.0)


def test_wide_model_matches_engine_eval(tmp_path):
    en.manual_seed(1)
    model = Wide()
    model.train()
    with en.no_grad():
        for _ in range(2):
            model(en.randn(8, 3, 17, 15))
    model.eval()
    x = np.random.default_rng(3).standard_normal((9, 3, 17, 15)).astype(np.float32)
    with en.no_grad():
        expected = model(en.tensor(x)).numpy()
    path = ex.export(model, en.tensor(x[:2]), tmp_path / "wide.safetensors")
    run = ex.load(path)
    ops = {n["op"] for n in run.graph["nodes"]}
    assert {"conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "cat",
            "transpose", "matmul", "softmax", "log_softmax", "mean", "sub", "mul", "div",
            "gelu", "leaky_relu", "tanh", "sigmoid", "reshape"} <= ops
    np.testing.assert_allclose(run(x), expected, atol=1e-5, rtol=0)
    ort = pytest.importorskip("onnxruntime")
    ex.export(model, en.tensor(x[:2]), tmp_path / "wide.onnx", format="onnx")
    sess = ort.InferenceSession(str(tmp_path / "wide.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], expected, atol=1e-4, rtol=0)


class Indexing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4))
        self.head = Head()

    def forward(self, x):
        return self.head(self.body(x))


class Head(nn.Module):
    def forward(self, x):
        return x.exp()


def test_unsupported_op_names_op_and_module_path():
    with pytest.raises(ExportError, match=r"op Exp at head is not supported"):
        ex.trace(Indexing(), en.zeros(2, 4))


def test_reshape_mixing_batch_dim_is_rejected():
    class Mix(nn.Module):
        def forward(self, x):
            return x.reshape(-1)

    with pytest.raises(ExportError, match=r"mixes the batch dim"):
        ex.trace(Mix(), en.zeros(3, 4))


def test_permute_moving_batch_dim_is_rejected():
    class Move(nn.Module):
        def forward(self, x):
            return x.t()

    with pytest.raises(ExportError, match=r"moves the batch dimension"):
        ex.trace(Move(), en.zeros(3, 4))


def test_inplace_relu_and_residual_add_are_traced():
    class InPlace(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            h = self.act(self.fc(x))
            h += x
            return h

    model = InPlace()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with en.no_grad():
        expected = model(en.tensor(x)).numpy()
    run = ex.trace(model, en.zeros(2, 4)).module()
    np.testing.assert_allclose(run(x), expected, atol=1e-6)


def test_onnx_absent_gives_install_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    prog = ex.trace(nn.Linear(3, 2), en.zeros(1, 3))
    with pytest.raises(ExportError, match=r"pip install 'gradwell\[onnx\]'"):
        ex.to_onnx(prog)


class Block(nn.Module):
    """Two ops inside one module, a shared activation called twice, a parameter via .data."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Tanh()
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h = self.act(self.fc(x))
        h = self.act(F.linear(h, self.fc.weight.data, self.fc.bias) * 2.0)
        return self.drop(F.dropout(h, 0.5))  # functional dropout, training=True: still identity


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x) + x


def test_nodes_are_named_by_module_path_and_stay_unique():
    model = Outer()
    prog = ex.trace(model, en.zeros(2, 4))
    nodes = [(n["op"], n["name"]) for n in prog.graph["nodes"]]
    assert nodes == [("linear", "block.fc"), ("tanh", "block.act"), ("linear", "block"),
                     ("mul", "block.mul3"), ("tanh", "block.act.tanh4"), ("add", "add5")]
    # the weight reached through .data keeps its state-dict name; dropout adds no node
    assert prog.graph["nodes"][2]["inputs"][1:] == ["block.fc.weight", "block.fc.bias"]
    assert sorted(k for k in prog.weights if not k.startswith("const.")) == [
        "block.fc.bias", "block.fc.weight"]
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    w, b = model.block.fc.weight.detach().numpy(), model.block.fc.bias.detach().numpy()
    h = np.tanh(np.tanh(x @ w.T + b) @ w.T * 2 + b * 2)
    np.testing.assert_allclose(prog.module()(x), h + x, atol=1e-6)


@pytest.mark.parametrize("layer, op", [(lambda: nn.LayerNorm(4), "LayerNorm"),
                                       (lambda: nn.Softplus(), "Softplus")])
def test_unsupported_layer_names_op_and_path(layer, op):
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(layer()))
    with pytest.raises(ExportError, match=rf"op {op} at 1\.0 is not supported by export; "
                                          r"supported: .*linear"):
        ex.trace(model, en.zeros(2, 4))


def test_batch_norm_without_running_statistics_is_refused():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False))
    with pytest.raises(ExportError, match=r"batch_norm at 1 uses batch statistics"):
        ex.trace(model, en.zeros(2, 4))


def test_flatten_of_batch_dim_is_rejected():
    with pytest.raises(ExportError, match=r"flatten at 0 merges the batch dim"):
        ex.trace(nn.Sequential(nn.Flatten(0)), en.zeros(3, 4))


def test_layer_writing_its_result_into_its_input_is_traced():
    class WriteBack(nn.Module):  # what an in-place layer does: the result overwrites the input
        def forward(self, x):
            out = F.relu(x)
            x._data[...] = out._data
            x._version += 1
            return x

    model = nn.Sequential(nn.Linear(4, 4), WriteBack(), nn.Linear(4, 2))
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    with en.no_grad():
        expected = model(en.tensor(x)).numpy()
    prog = ex.trace(model, en.zeros(2, 4))
    assert [n["op"] for n in prog.graph["nodes"]] == ["linear", "relu", "linear"]
    np.testing.assert_allclose(prog.module()(x), expected, atol=1e-6)
