"""ParameterList, ParameterDict, ModuleDict and Module helpers as PyTorch's: keys, order, reprs,
and state dicts of Embedding/LayerNorm/container models moving both ways with equal outputs."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

import engine as en
from engine import nn


def make_model(lib: Any) -> Any:
    """The same model in engine or torch: embedding, norms and every container kind."""
    tnn = lib.nn

    class TextModel(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = tnn.Embedding(20, 6, padding_idx=0)
            self.norm = tnn.LayerNorm(6)
            self.heads = tnn.ModuleDict({
                "cls": tnn.Linear(6, 3),
                "reg": tnn.Sequential(tnn.Linear(6, 4), tnn.GELU(), tnn.Linear(4, 1))})
            self.scales = tnn.ParameterList([tnn.Parameter(lib.ones(3)),
                                             tnn.Parameter(lib.zeros(1))])
            self.extra = tnn.ParameterDict({"shift": tnn.Parameter(lib.zeros(3))})
            self.gn = tnn.GroupNorm(2, 6)
            self.register_buffer("calls", lib.zeros(1), persistent=False)

        def forward(self, idx: Any) -> Any:
            h = self.gn(self.norm(self.embed(idx)).mean(1))
            cls = self.heads["cls"](h) * self.scales[0] + self.extra["shift"]
            return cls, self.heads["reg"](h) + self.scales[1]

    return TextModel()


KEYS = ["scales.0", "scales.1", "embed.weight", "norm.weight", "norm.bias", "heads.cls.weight",
        "heads.cls.bias", "heads.reg.0.weight", "heads.reg.0.bias", "heads.reg.2.weight",
        "heads.reg.2.bias", "extra.shift", "gn.weight", "gn.bias"]


def test_state_dict_keys_of_containers() -> None:
    model = make_model(en)
    assert sorted(model.state_dict()) == sorted(KEYS)
    assert "calls" not in model.state_dict()  # persistent=False
    assert model.get_parameter("heads.reg.0.weight") is model.heads["reg"][0].weight
    assert model.get_parameter("scales.1") is model.scales[1]
    assert model.get_buffer("calls") is model.calls
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        model.get_parameter("calls")


def _run(model: Any, lib: Any, idx: np.ndarray) -> tuple[list[np.ndarray], dict]:
    cls, reg = model(lib.tensor(idx))
    (cls.sum() * 2 + reg.sum()).backward()
    outs = [cls.detach().numpy(), reg.detach().numpy()]
    return outs, {k: p.grad.numpy() for k, p in model.named_parameters()}


@pytest.mark.parametrize("direction", ["torch_to_ours", "ours_to_torch"])
def test_state_dict_round_trip_with_torch(direction: str) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = make_model(en), make_model(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    if direction == "torch_to_ours":
        with torch.no_grad():
            for p in theirs.parameters():
                p.add_(torch.randn(p.shape) * 0.5)
        result = ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        assert result.missing_keys == [] and result.unexpected_keys == []
    else:
        theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                                for k, v in ours.state_dict().items()})
    idx = np.array([[0, 3, 5, 19], [7, 7, 0, 2], [1, 2, 3, 4]])
    outs, grads = _run(ours, en, idx)
    t_outs, t_grads = _run(theirs, torch, idx)
    for o, t in zip(outs, t_outs, strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-4, atol=1e-5)
    assert list(grads) == list(t_grads)
    for key, g in grads.items():
        np.testing.assert_allclose(g, t_grads[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert not grads["embed.weight"][0].any()  # the padding row


def test_model_prints_as_torch() -> None:
    torch = pytest.importorskip("torch")
    # The dtype names are the library's own (engine.float32 where PyTorch says torch.float32).
    assert repr(make_model(en)) == repr(make_model(torch)).replace("torch.", "engine.")


def test_parameter_list() -> None:
    params = nn.ParameterList([nn.Parameter(en.ones(2)), en.zeros(3)])
    assert isinstance(params[1], nn.Parameter) and params[1].requires_grad  # wrapped
    params.append(en.ones(1)).extend([nn.Parameter(en.ones(4))])
    params += [en.zeros(5)]
    assert len(params) == 5 and [p.shape for p in params] == [(2,), (3,), (1,), (4,), (5,)]
    assert params[-1] is params[4] and len(params[1:4:2]) == 2
    assert params[1:4:2][1] is params[3]
    replacement = nn.Parameter(en.ones(7))
    params[0] = replacement
    assert params[0] is replacement and list(params.state_dict())[0] == "0"
    assert list(params.state_dict()) == ["0", "1", "2", "3", "4"]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        params[5]
    with pytest.raises(TypeError, match="should be called with an iterable"):
        params.extend(en.ones(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        params()
    assert "0" not in dir(params)
    assert sum(p.numel() for p in params.parameters()) == 7 + 3 + 1 + 4 + 5


def test_parameter_dict() -> None:
    d = nn.ParameterDict({"b": en.ones(2), "a": nn.Parameter(en.zeros(1))})
    assert list(d) == ["a", "b"]  # a plain dict is taken in sorted order, as PyTorch
    d.update(OrderedDict([("z", en.ones(1)), ("c", en.ones(3))]))
    d["m"] = en.ones(4)
    assert list(d.keys()) == ["a", "b", "z", "c", "m"] == list(d.state_dict())
    assert isinstance(d["b"], nn.Parameter) and "z" in d and "q" not in d
    assert d.get("q") is None and d.setdefault("q", en.ones(1)).shape == (1,)
    assert d.pop("z").shape == (1,) and "z" not in d and "z" not in d.state_dict()
    key, value = d.popitem()
    assert key == "q" and value.shape == (1,)
    copy = d.copy()
    assert list(copy) == list(d) and copy["a"] is d["a"]
    del d["a"]
    assert len(d) == 3 and list(d.values())[0] is d["b"]
    assert [k for k, _ in d.items()] == ["b", "c", "m"]
    with pytest.raises(ValueError, match="has length 3; 2 is required"):
        d.update([("x", en.ones(1), 3)])
    d.clear()
    assert len(d) == 0 and list(d.parameters()) == []


def test_module_dict_and_pops_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for lib in (en, torch):
        layers = lib.nn.ModuleDict({"b": lib.nn.Linear(1, 1), "a": lib.nn.ReLU()})
        assert list(layers) == ["b", "a"]  # insertion order, unlike ParameterDict
        seq = lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Tanh(), lib.nn.Sigmoid())
        assert type(seq.pop(1)).__name__ == "Tanh" and len(seq) == 2
        mlist = lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.Tanh()])
        assert type(mlist.pop(0)).__name__ == "ReLU" and list(mlist.state_dict()) == []
        assert [n for n, _ in mlist.named_children()] == ["0"]


def test_zero_grad_and_requires_grad_and_apply() -> None:
    model = make_model(en)
    cls, reg = model(en.tensor([[1, 2]]))
    (cls.sum() + reg.sum()).backward()
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    seen: list[str] = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen[0] == "Embedding" and seen[-1] == "TextModel" and "ParameterList" in seen


def test_replacing_an_entry_keeps_its_place_as_torch() -> None:
    torch = pytest.importorskip("torch")
    for lib in (en, torch):
        layer = lib.nn.Linear(2, 3)
        layer.weight = lib.nn.Parameter(lib.ones(3, 2))  # e.g. weight tying
        layer.register_buffer("scale", lib.ones(1))
        layer.register_buffer("scale", lib.zeros(1))
        layer.register_parameter("bias", lib.nn.Parameter(lib.zeros(3)))
        assert list(layer.state_dict()) == ["weight", "bias", "scale"]
        seq = lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Tanh())
        seq[0] = lib.nn.Sigmoid()
        assert [(n, type(m).__name__) for n, m in seq.named_children()] == [
            ("0", "Sigmoid"), ("1", "Tanh")]
