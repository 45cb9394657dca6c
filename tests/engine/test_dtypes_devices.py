"""dtype promotion (PyTorch's rules), device errors and shape errors that quote both shapes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import engine as en
from engine import backend

DTYPES = ["float32", "float64", "float16", "int64", "int32", "uint8"]
OPS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
       "maximum": lambda a, b: a.maximum(b)}


def test_python_scalars_never_upcast_float32() -> None:
    x = en.ones(2)
    for out in (x + 1, 1 + x, x * 2.5, 2.5 * x, x / 3, 3 / x, x - 1e300 * 0, x**2, 2**x,
                x**0.5, x.maximum(en.tensor(1.0, dtype=en.float64))):
        assert out.dtype == en.float32, out
    assert (x.double() + 1.5).dtype == en.float64
    assert (en.ones(2, dtype=en.float16) * 3.0).dtype == en.float16


def test_integer_tensors_follow_torch_scalar_rules() -> None:
    i = en.tensor([1, 2, 3])
    assert (i + 1).dtype == en.int64 and (i * 2).tolist() == [2, 4, 6]
    assert (i + 1.5).dtype == en.float32 and (i * 0.5).tolist() == [0.5, 1.0, 1.5]
    assert (en.tensor([1, 2], dtype=en.int32) + 1).dtype == en.int32
    assert (en.tensor([1, 2], dtype=en.uint8) + 1).dtype == en.uint8
    assert (en.tensor([True, False]) + 1).dtype == en.int64
    assert (en.tensor([True]) + 1.0).dtype == en.float32
    assert i.exp().dtype == en.float32 and i.sqrt().dtype == en.float32


def test_int_division_gives_float32() -> None:
    a, b = en.tensor([1, 2, 3]), en.tensor([2, 2, 2])
    assert (a / b).dtype == en.float32 and (a / b).tolist() == [0.5, 1.0, 1.5]
    assert (a / 2).dtype == en.float32 and (6 / b).tolist() == [3.0, 3.0, 3.0]
    assert (en.tensor([1, 2], dtype=en.int32) / en.tensor([2, 4], dtype=en.int32)).dtype == (
        en.float32)


@pytest.mark.parametrize("op", list(OPS))
def test_tensor_tensor_promotion_matches_torch(op: str) -> None:
    torch = pytest.importorskip("torch")
    fn = OPS[op]
    for da, db in itertools.product(DTYPES, DTYPES):
        for shape_a, shape_b in [((2,), (2,)), ((), (2,)), ((2,), ())]:
            def make(lib, d, shape):
                return lib.ones(shape, dtype=getattr(lib, d)) * 3

            ours = fn(make(en, da, shape_a), make(en, db, shape_b))
            theirs = fn(make(torch, da, shape_a), make(torch, db, shape_b))
            assert ours.dtype.name == str(theirs.dtype)[6:], (op, da, db, shape_a, shape_b)
            np.testing.assert_allclose(ours.numpy().astype(float), theirs.numpy().astype(float),
                                       rtol=1e-3)


def test_tensor_scalar_promotion_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    for d, scalar, op in itertools.product(DTYPES + ["bool"], [2, 2.5, True], list(OPS)[:3]):
        if op == "div" and scalar is True:
            continue
        fn = OPS[op]
        for rev in (False, True):
            def run(lib, d=d, fn=fn, scalar=scalar, rev=rev):
                t = lib.ones(3, dtype=getattr(lib, d))
                return fn(scalar, t) if rev else fn(t, scalar)

            assert run(en).dtype.name == str(run(torch).dtype)[6:], (d, scalar, op, rev)


def test_factories_default_dtypes() -> None:
    assert en.tensor([1.0]).dtype == en.float32 and en.tensor([1]).dtype == en.int64
    assert en.tensor(np.array([1.0])).dtype == en.float64  # NumPy arrays keep their dtype
    assert en.zeros(2).dtype == en.float32 and en.arange(3).dtype == en.int64
    assert en.arange(3.0).dtype == en.float32 and en.randn(2).dtype == en.float32
    assert en.full((2,), 7).dtype == en.int64 and en.full((2,), 7.0).dtype == en.float32
    assert en.tensor([True]).dtype == en.bool and en.randint(0, 5, (3,)).dtype == en.int64
    x = en.ones(2)
    assert x.long().dtype == en.int64 and x.double().float().dtype == en.float32
    assert x.to(en.float64).dtype == en.float64 and x.to("cpu") is x


def test_cuda_without_cupy_raises_one_line_with_install_hint(monkeypatch) -> None:
    monkeypatch.setattr(backend, "_cupy", lambda: None)
    for make in (lambda: en.tensor([1.0], device="cuda"), lambda: en.zeros(2, device="cuda:0"),
                 lambda: en.ones(2).to("cuda"), lambda: en.ones(2).cuda()):
        with pytest.raises(RuntimeError) as info:
            make()
        message = str(info.value)
        assert "\n" not in message and "pip install" in message and "[cuda]" in message
    assert not en.cuda.is_available() and en.cuda.device_count() == 0


def test_unknown_device_string_raises() -> None:
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        en.zeros(2, device="tpu")


def test_mixing_devices_names_both() -> None:
    a = en.ones(2)
    fake = en.ones(2)
    fake._device = "cuda:0"  # a stand-in: no GPU needed to check the message
    with pytest.raises(RuntimeError, match="same device.*(cpu and cuda:0|cuda:0 and cpu)"):
        a + fake
    with pytest.raises(RuntimeError, match="cuda:0 and cpu"):
        fake * a


def test_mixing_devices_on_gpu(cuda: str) -> None:
    with pytest.raises(RuntimeError, match="cpu"):
        en.ones(2) + en.ones(2, device=cuda)
    x = en.ones(2, device=cuda, requires_grad=True)
    (x.cpu() * 2).sum().backward()
    assert x.grad.device == cuda and x.grad.tolist() == [2.0, 2.0]


def test_matmul_shape_error_quotes_both_shapes() -> None:
    with pytest.raises(RuntimeError, match=r"64x784 and 128x10"):
        en.zeros(64, 784) @ en.zeros(128, 10)
    with pytest.raises(RuntimeError, match=r"at least 1D"):
        en.zeros(()) @ en.zeros(3)


def test_broadcast_error_and_item_errors() -> None:
    with pytest.raises(RuntimeError, match=r"Add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        en.zeros(2, 3) + en.zeros(4)
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        en.zeros(2).item()
    assert en.tensor([[2.5]]).item() == 2.5 and float(en.tensor(1.5)) == 1.5


def test_star_import_brings_the_api_and_keeps_builtins() -> None:
    namespace: dict = {}
    exec("from engine import *", namespace)
    assert "float" not in namespace and "int" not in namespace and "bool" not in namespace
    for junk in ("annotations", "builtins", "importlib", "Any", "np"):
        assert junk not in namespace, junk
    for name in ("Tensor", "tensor", "zeros", "ones", "randn", "arange", "float32", "float64",
                 "int64", "long", "double", "half", "dtype", "device", "no_grad", "manual_seed",
                 "cat", "stack", "exp", "is_tensor", "save", "load"):
        assert name in namespace, name
    assert namespace["tensor"] is en.tensor and namespace["device"] is en.device
    exec("x = float('1.5') + int('2'); b = bool(0)", namespace)
    assert namespace["x"] == 3.5 and namespace["b"] is False
    assert en.float is en.float32 and en.int is en.int32 and en.bool is en.bool_
    assert all(hasattr(en, name) for name in en.__all__)
    assert len(set(en.__all__)) == len(en.__all__)
