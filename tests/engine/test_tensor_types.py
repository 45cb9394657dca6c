"""Tensor.type, legacy tensor types, __format__, grad-mode forms and print options, vs PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en

try:
    import torch
except ImportError:
    torch = None


def _libs():
    return [en] + ([torch] if torch is not None else [])


def test_type_names_and_casts():
    for lib in _libs():
        prefix = lib.__name__
        assert lib.tensor([1.0]).type() == f"{prefix}.FloatTensor"
        assert lib.tensor([1]).type() == f"{prefix}.LongTensor"
        assert lib.tensor([True]).type() == f"{prefix}.BoolTensor"
        assert lib.tensor([1.0], dtype=lib.float64).type() == f"{prefix}.DoubleTensor"
        assert lib.tensor([1]).type(lib.float64).dtype == lib.float64
        assert lib.tensor([1.5]).type(f"{prefix}.LongTensor").tolist() == [1]
        assert lib.tensor([1]).type(lib.DoubleTensor).dtype == lib.float64
    assert en.tensor([1]).type("torch.DoubleTensor").dtype == en.float64  # ported strings work
    with pytest.raises(ValueError, match="invalid type: 'engine.FooTensor'"):
        en.tensor([1]).type("engine.FooTensor")


def test_legacy_constructors_and_isinstance():
    for lib in _libs():
        assert lib.FloatTensor([1, 2]).dtype == lib.float32
        assert lib.FloatTensor([1, 2]).tolist() == [1.0, 2.0]
        assert lib.LongTensor(3).shape == (3,) and lib.LongTensor(3).dtype == lib.int64
        assert lib.FloatTensor(2, 3).shape == (2, 3)
        assert lib.ByteTensor([1, 2]).dtype == lib.uint8
        assert lib.BoolTensor([True]).dtype == lib.bool
        assert lib.IntTensor([1]).dtype == lib.int32
        assert lib.DoubleTensor([1]).dtype == lib.float64
        assert isinstance(lib.tensor([1.0]), lib.FloatTensor)
        assert not isinstance(lib.tensor([1]), lib.FloatTensor)
        assert isinstance(lib.tensor([1]), lib.LongTensor)
    assert repr(en.FloatTensor) == "<class 'engine.FloatTensor'>"
    assert en.LongTensor(3).tolist() == [0, 0, 0]  # PyTorch leaves it uninitialised


def test_format_spec_on_scalar_tensors():
    for lib in _libs():
        x = lib.tensor(1.23456)
        assert format(x, ".4f") == "1.2346"
        assert f"{lib.tensor(0.5):>7f}" == "0.500000"
        assert "{:+.2f}".format(lib.tensor(1.5)) == "+1.50"  # noqa: UP032 - str.format path
        assert f"{lib.tensor(3)}" == "3" and f"{lib.tensor(3):03d}" == "003"
        assert f"{lib.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
        with pytest.raises(TypeError, match="unsupported format string"):
            format(lib.tensor([1.5]), ".2f")  # PyTorch refuses a spec on a 1-d tensor


def test_is_floating_point_and_numel():
    assert en.is_floating_point(en.zeros(1)) and not en.is_floating_point(en.tensor([1]))
    assert en.zeros(2).is_floating_point() and en.numel(en.zeros(2, 3)) == 6


def test_no_grad_and_inference_mode_forms():
    x = en.ones(1, requires_grad=True)

    @en.no_grad
    def bare(v):
        return (v * 2).requires_grad

    @en.no_grad()
    def called(v):
        return (v * 2).requires_grad

    @en.inference_mode()
    def infer(v):
        return (v * 2).requires_grad, en.is_inference_mode_enabled()

    assert bare(x) is False and called(x) is False
    assert infer(x) == (False, True) and en.is_inference_mode_enabled() is False
    with en.inference_mode():
        assert not (x * 2).requires_grad
    with en.inference_mode(False):
        assert (x * 2).requires_grad


def test_set_grad_enabled_as_function_and_context():
    en.set_grad_enabled(False)
    assert not en.is_grad_enabled()
    with en.set_grad_enabled(True):
        assert en.is_grad_enabled()
    assert not en.is_grad_enabled()
    en.set_grad_enabled(True)

    @en.set_grad_enabled(False)
    def f():
        return en.is_grad_enabled()

    assert en.is_grad_enabled() and f() is False and en.is_grad_enabled()


def test_set_printoptions_matches_torch():
    values = [1.123456, 2.5, 3.0]
    try:
        en.set_printoptions(precision=2)
        ours = repr(en.tensor(values))
        assert ours == "tensor([1.12, 2.50, 3.00])"
        en.set_printoptions(sci_mode=True)
        assert repr(en.tensor([1.5, 2.0])) == "tensor([1.50e+00, 2.00e+00])"
        en.set_printoptions(threshold=5, edgeitems=1)
        assert repr(en.arange(10)) == "tensor([0,  ..., 9])"
        if torch is not None:
            torch.set_printoptions(precision=2)
            assert repr(torch.tensor(values)) == ours
            torch.set_printoptions(sci_mode=True)
            assert repr(torch.tensor([1.5, 2.0])) == "tensor([1.50e+00, 2.00e+00])"
            torch.set_printoptions(threshold=5, edgeitems=1)
            assert repr(torch.arange(10)) == "tensor([0,  ..., 9])"
    finally:
        en.set_printoptions(profile="default")
        if torch is not None:
            torch.set_printoptions(profile="default")
    assert repr(en.tensor(values)) == "tensor([1.1235, 2.5000, 3.0000])"


def test_legacy_tensor_constructor_with_sizes():
    for lib in _libs():
        assert lib.Tensor(2, 3).shape == (2, 3) and lib.Tensor(2, 3).dtype == lib.float32
        assert lib.Tensor(4).shape == (4,)
        assert lib.Tensor().shape == (0,)
        assert lib.Tensor(lib.Size([2, 1])).shape == (2, 1)
        assert lib.Tensor([1.5, 2.0]).tolist() == [1.5, 2.0]
        weight = lib.nn.Parameter(lib.Tensor(3, 2))  # the old custom-layer idiom
        assert weight.shape == (3, 2) and weight.requires_grad
    assert en.Tensor(2, 3).tolist() == [[0.0] * 3] * 2  # PyTorch leaves it uninitialised
    with pytest.raises(TypeError, match="takes data or sizes"):
        en.Tensor([1.0], 2)


def test_tensor_constructor_gives_the_default_float_dtype():
    assert en.Tensor([1, 2]).dtype == en.float32  # torch.Tensor([1, 2]) is float
    assert en.Tensor(np.array([True, False])).dtype == en.float32
    assert en.tensor([1, 2]).dtype == en.int64  # the factory infers, as torch.tensor does
    assert en.Tensor(en.tensor([1, 2])).dtype == en.int64  # a tensor keeps its dtype
