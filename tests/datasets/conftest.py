"""Fixtures for the datasets tests: hand-built IDX bytes and a local HTTP mirror."""

from __future__ import annotations

import gzip
import http.server
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

# Built with struct, independently of datasets.idx, so the reader is checked against the spec.
_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D,
          "float64": 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX encoding of arr: magic, big-endian dims, big-endian elements."""
    head = struct.pack(">BBBB", 0, 0, _CODES[arr.dtype.name], arr.ndim)
    head += struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def encode_idx() -> Callable[[np.ndarray], bytes]:
    """encode_idx(arr) -> the IDX bytes of arr, built with struct."""
    return idx_bytes


@pytest.fixture
def write_raw() -> Callable[..., Path]:
    """write_raw(path, arr_or_bytes): write IDX (gzipped if path ends in .gz); return path."""

    def write(path: Path, data: np.ndarray | bytes) -> Path:
        raw = data if isinstance(data, bytes) else idx_bytes(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(raw, mtime=0) if path.name.endswith(".gz") else raw)
        return path

    return write


@pytest.fixture
def mnist_like() -> Callable[[int, int], tuple[np.ndarray, np.ndarray]]:
    """mnist_like(n, seed) -> (uint8 n x 28 x 28 images, uint8 labels 0-9)."""

    def make(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        return images, (np.arange(n) % 10).astype(np.uint8)

    return make


class Mirror:
    """Files served at /good/, /bad/ (wrong bytes), /cut/ (hangs up halfway), /flaky/ (cut on
    the first request for a file, whole afterwards), /missing/ (404), /short/ (half the body,
    no Content-Length), /junk/ (random bytes, no Content-Length) and /trickle/ (one byte per
    ``trickle_s`` seconds, at most ``trickle_max`` bytes, then it hangs up) and /loop/ (a
    redirect to itself)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: Counter[str] = Counter()
        self.trickle_s, self.trickle_max = 0.1, 200
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                mode, _, name = self.path.strip("/").partition("/")
                mirror.requests[self.path] += 1
                body = mirror.files.get(name)
                if body is None or mode == "missing":
                    self.send_error(404)
                    return
                if mode == "loop":  # redirects to itself until the client gives up
                    self.send_response(302)
                    self.send_header("Location", self.path)
                    self.end_headers()
                    return
                if mode in ("short", "junk", "trickle"):
                    self._unsized(mode, body)
                    return
                cut = mode == "cut" or (mode == "flaky" and mirror.requests[self.path] == 1)
                if mode == "bad":
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)
                if cut:
                    self.close_connection = True

            def _unsized(self, mode: str, body: bytes) -> None:
                self.send_response(200)
                if mode == "trickle":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.close_connection = True
                if mode in ("short", "junk"):
                    junk = np.random.default_rng(0).bytes(len(body))
                    self.wfile.write(body[: len(body) // 2] if mode == "short" else junk)
                    return
                try:
                    for i in range(min(len(body), mirror.trickle_max)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(mirror.trickle_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, mode: str) -> str:
        """Base URL of one serving mode."""
        return f"{self.base}/{mode}/"


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    """A local HTTP mirror on 127.0.0.1, shut down after the test."""
    m = Mirror()
    yield m
    m.server.shutdown()
    m.server.server_close()
    m.thread.join()


@pytest.fixture
def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
