"""engine._heap: glibc keeps freed array memory, so re-allocating it does not page-fault."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine import _heap

# Allocate and free 48 MB of 1 MB arrays 20 times; print the page faults of the last 19 rounds.
CHURN = """
import resource, numpy as np, engine
def churn():
    arrays = [np.ones(1 << 18, np.float32) for _ in range(48)]
    del arrays
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(19):
    churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env: dict) -> int:
    out = subprocess.run([sys.executable, "-c", CHURN], env=env, capture_output=True, text=True,
                         check=True, cwd=os.getcwd())
    return int(out.stdout.strip())


def _glibc() -> bool:
    return sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


@pytest.mark.skipif(not _glibc(), reason="the tuning applies to glibc only")
def test_freed_arrays_are_reused_without_page_faults() -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    tuned = _faults(env)
    # A user's own malloc setting turns the tuning off: glibc's defaults trim the heap each round.
    untuned = _faults({**env, "MALLOC_ARENA_MAX": "8"})
    assert tuned < 200 < untuned, (tuned, untuned)


def test_a_users_malloc_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000")
    assert _heap.retain_freed_memory() is False
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000")
    assert _heap.retain_freed_memory() is False


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _heap.retain_freed_memory() is False
