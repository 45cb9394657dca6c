"""Shared fixtures: `backend` repeats a test on every available device, `kernels` with the
compiled kernels on and off."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import engine as en
from engine import backend as _backend
from engine.ops import jit

# tests/helpers.py is imported as `helpers` by the test modules.
sys.path.insert(0, str(Path(__file__).parent))

import fake_cupy  # noqa: E402 - found through the path set above

_REAL_GPU = en.cuda.is_available()


@pytest.fixture
def fake_gpu() -> Iterator[object]:
    """The CuPy stand-in served as CuPy for one test (two devices, counted copies and syncs);
    afterwards CUDA is unavailable again."""
    fake_cupy._reset()
    _backend._use_cupy_module(fake_cupy)
    try:
        yield fake_cupy
    finally:
        _backend._use_cupy_module(None)
        en.set_default_device(None)


@pytest.fixture
def cuda(request: pytest.FixtureRequest) -> str:
    """'cuda' for a CUDA-only test: real CuPy when it sees a GPU, else the CuPy stand-in."""
    if not _REAL_GPU:
        request.getfixturevalue("fake_gpu")
    return "cuda"


@pytest.fixture
def two_gpus(cuda: str) -> None:
    """Skip unless two GPUs are visible (the stand-in has two); GPU 0 stays current."""
    if en.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")


@pytest.fixture(params=["cpu", "cuda"])
def backend(request: pytest.FixtureRequest) -> str:
    """Device string to run on: 'cpu', and 'cuda': real CuPy when it sees a GPU, else the
    CuPy stand-in (tests/fake_cupy), installed for this test only."""
    if request.param == "cuda" and not _REAL_GPU:
        request.getfixturevalue("fake_gpu")
    return request.param


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs on the cuda device `gpu`, so `pytest -m gpu` selects them:
    on a GPU machine they run on the real device, elsewhere on the stand-in."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        on_cuda = "cuda" in names or "fake_gpu" in names or (
            callspec is not None and callspec.params.get("backend") == "cuda")
        if on_cuda:
            item.add_marker(pytest.mark.gpu)


@pytest.fixture(params=["numpy", "compiled"])
def kernels(request: pytest.FixtureRequest) -> Iterator[bool]:
    """The test with the NumPy code, then with the compiled kernels (skipped without numba);
    the kernels are on again afterwards. The value is whether they are on."""
    compiled = request.param == "compiled"
    if compiled and jit.kernels() is None:
        pytest.skip("the compiled kernels need numba")
    jit.set_enabled(compiled)
    try:
        yield compiled
    finally:
        jit.set_enabled(True)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same global random state and with grad mode on."""
    en.manual_seed(0)
    en.set_grad_enabled(True)
