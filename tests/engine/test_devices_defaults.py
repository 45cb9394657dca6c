"""engine.device, engine.Size, default device/dtype, accelerator, backends and cuda helpers."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en

try:
    import torch
except ImportError:
    torch = None


@pytest.fixture(autouse=True)
def _restore_defaults():
    yield
    en.set_default_dtype(en.float32)
    en.set_default_device(None)


def test_device_forms_match_torch():
    cases = [("cuda", 0), ("cuda:1",), ("cpu",), ("cuda",)]
    expected = {("cuda", 0): ("cuda", 0, "cuda:0", "device(type='cuda', index=0)"),
                ("cuda:1",): ("cuda", 1, "cuda:1", "device(type='cuda', index=1)"),
                ("cpu",): ("cpu", None, "cpu", "device(type='cpu')"),
                ("cuda",): ("cuda", None, "cuda", "device(type='cuda')")}
    for args in cases:
        d = en.device(*args)
        assert (d.type, d.index, str(d), repr(d)) == expected[args]
        if torch is not None:
            t = torch.device(*args)
            assert (t.type, t.index, str(t), repr(t)) == expected[args]
    assert en.device(type="cpu") == "cpu" and en.device(type="cuda", index=2).index == 2
    assert en.device(en.device("cuda:3")).index == 3
    assert en.zeros(1).device == en.device("cpu")


def test_device_errors():
    with pytest.raises(RuntimeError, match="must not include an index"):
        en.device("cuda:0", 1)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        en.device("tpu")


def test_tensor_to_device_object():
    t = en.ones(2)
    assert t.to(en.device("cpu")) is t
    assert t.to(en.device("cpu"), en.float64).dtype == en.float64


def test_size_behaves_as_torch_size():
    s = en.zeros(3, 28, 28).shape
    assert isinstance(s, en.Size) and isinstance(s, tuple)
    assert repr(s) == "engine.Size([3, 28, 28])" and str(s) == repr(s)
    assert s == (3, 28, 28) and s[0] == 3 and type(s[0]) is int
    assert isinstance(s[1:], en.Size) and s[1:] == (28, 28)
    assert s.numel() == 2352 and en.Size([]).numel() == 1
    assert isinstance(s + (1,), en.Size) and isinstance((1,) + s, en.Size)
    assert en.zeros(2, 3).size() == en.Size([2, 3]) and en.zeros(2, 3).size(-1) == 3
    if torch is not None:
        assert repr(torch.zeros(3, 28, 28).shape) == "torch.Size([3, 28, 28])"
        assert torch.Size([2, 3]).numel() == en.Size([2, 3]).numel()


def test_default_dtype_drives_factories_and_python_floats():
    assert en.get_default_dtype() == en.float32
    en.set_default_dtype(en.float64)
    assert en.get_default_dtype() is en.float64
    for t in (en.tensor([1.0]), en.zeros(2), en.ones(2), en.empty(2), en.rand(2), en.randn(2),
              en.arange(0.0, 2.0), en.tensor([1, 2]) * 0.5, en.full((2,), 1.5)):
        assert t.dtype == en.float64, t
    assert en.tensor([1]).dtype == en.int64  # integers keep int64
    assert repr(en.tensor([1.0, 2.0])) == "tensor([1., 2.])"  # the default dtype is not printed
    assert repr(en.tensor([1.0], dtype=en.float32)) == "tensor([1.], dtype=engine.float32)"
    if torch is not None:
        previous = torch.get_default_dtype()
        try:
            torch.set_default_dtype(torch.float64)
            assert repr(torch.tensor([1.0], dtype=torch.float32)) == \
                "tensor([1.], dtype=torch.float32)"
        finally:
            torch.set_default_dtype(previous)


def test_set_default_dtype_refuses_integers():
    with pytest.raises(TypeError, match="only floating-point types are supported"):
        en.set_default_dtype(en.int64)


def test_default_device_cpu_and_context():
    assert en.get_default_device() == en.device("cpu")
    en.set_default_device("cpu")
    assert en.zeros(1).device == "cpu" and en.tensor([1.0]).device == "cpu"
    with en.device("cpu") as d:
        assert d == "cpu" and en.get_default_device() == "cpu"
    if not en.cuda.is_available():
        en.set_default_device("cuda")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            en.zeros(1)
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            en.tensor([1.0])
        en.set_default_device(None)
        assert en.zeros(1).device == "cpu"


def test_default_device_on_gpu(backend):
    en.set_default_device(backend)
    assert en.zeros(2).device == backend and en.tensor([1.0]).device == backend
    assert en.tensor(np.ones(2)).device == backend


def test_accelerator_and_backends():
    gpu = en.cuda.is_available()
    assert en.accelerator.is_available() is gpu
    assert en.accelerator.device_count() == en.cuda.device_count()
    assert en.accelerator.current_accelerator() == (en.device("cuda") if gpu else None)
    assert en.backends.mps.is_available() is False and en.backends.mps.is_built() is False
    cudnn = en.backends.cudnn
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == (
        True, False, False, True)
    if torch is not None:
        tc = torch.backends.cudnn
        assert (tc.enabled, tc.benchmark, tc.deterministic, tc.allow_tf32) == (
            True, False, False, True)
    cudnn.deterministic = True
    assert en.backends.cudnn.deterministic is True
    cudnn.deterministic = False


def test_cuda_helpers_without_gpu():
    if en.cuda.is_available():
        pytest.skip("checks the no-GPU behaviour")
    en.cuda.manual_seed(3)
    en.cuda.manual_seed_all(4)
    assert en.cuda.initial_seed() == 4
    assert en.cuda.is_bf16_supported() is False
    en.cuda.synchronize()
    en.cuda.empty_cache()
    assert en.cuda.memory_allocated() == 0 and en.cuda.memory_reserved() == 0
    with pytest.raises(RuntimeError, match="not compiled with CUDA enabled"):
        en.cuda.current_device()
    with pytest.raises(RuntimeError, match="not compiled with CUDA enabled"):
        en.cuda.get_device_name(0)


def test_cuda_helpers_on_gpu(cuda):
    assert en.cuda.current_device() == 0
    assert isinstance(en.cuda.get_device_name(), str) and en.cuda.get_device_name(0)
    x = en.ones(1024, device="cuda")
    assert en.cuda.memory_allocated() >= 4096
    del x
    en.cuda.empty_cache()


def test_cuda_seed_does_not_reset_global_stream():
    en.manual_seed(0)
    first = en.rand(3).numpy()
    en.manual_seed(0)
    en.cuda.manual_seed_all(0)  # GPU draws come from the global generator: no reset here
    np.testing.assert_array_equal(en.rand(3).numpy(), first)


def test_num_threads():
    assert en.get_num_threads() >= 1
    en.set_num_threads(1)
    assert en.get_num_threads() == 1
    with pytest.raises(ValueError, match="positive"):
        en.set_num_threads(0)
    en.backend._num_threads[0] = 0


def test_matmul_precision_and_determinism_flags():
    for lib in [en] + ([torch] if torch is not None else []):
        assert lib.get_float32_matmul_precision() == "highest"
        lib.set_float32_matmul_precision("high")
        assert lib.get_float32_matmul_precision() == "high"
        lib.set_float32_matmul_precision("highest")
        assert not lib.are_deterministic_algorithms_enabled()
        lib.use_deterministic_algorithms(True, warn_only=True)
        assert lib.are_deterministic_algorithms_enabled()
        assert lib.is_deterministic_algorithms_warn_only_enabled()
        lib.use_deterministic_algorithms(False)
        assert not lib.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="Invalid precision"):
        en.set_float32_matmul_precision("low")
