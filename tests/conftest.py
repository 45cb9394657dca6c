"""Shared fixtures: `backend` repeats a test on every available device."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import engine as en

# tests/helpers.py is imported as `helpers` by the test modules.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(params=["cpu", "cuda"])
def backend(request: pytest.FixtureRequest) -> str:
    """Device string to run on: 'cpu', and 'cuda' when CuPy sees a GPU."""
    if request.param == "cuda" and not en.cuda.is_available():
        pytest.skip("CUDA not available (CuPy with a GPU is needed)")
    return request.param


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same global random state and with grad mode on."""
    en.manual_seed(0)
    en.set_grad_enabled(True)
