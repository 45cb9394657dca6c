"""engine.io: every dtype both ways, the safetensors package as the oracle, deterministic bytes,
each kind of damage under the caller's error type, and fsync where durability is asked for."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.errors import CheckpointError, ExportError
from engine.export.container import read_safetensors, write_safetensors
from engine.io import DTYPES, decode, encode, read_file, write_file

st_numpy = pytest.importorskip("safetensors.numpy")
ROOT = Path(__file__).resolve().parents[3]


def _every_dtype() -> dict[str, np.ndarray]:
    """One array per safetensors dtype, with values at the ends of each type's range."""
    out = {}
    for code, dtype in DTYPES.items():
        if dtype == np.bool_:
            values = np.array([[True, False, True], [False, False, True]])
        elif dtype.kind == "f":
            values = np.array([[0.0, -1.5, 3.25], [np.finfo(dtype).max, np.finfo(dtype).tiny,
                                                   -np.inf]], dtype=dtype)
        else:
            info = np.iinfo(dtype)
            values = np.array([[info.min, info.max, 0], [1, info.max - 1, 7]], dtype=dtype)
        out[f"t_{code.lower()}"] = values.astype(dtype)
    out["scalar"] = np.array(2.5, np.float32)
    out["empty"] = np.zeros((0, 3), np.uint16)
    return out


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert b[name].dtype == a[name].dtype and b[name].shape == a[name].shape, name
        np.testing.assert_array_equal(b[name], a[name])


def test_checkpoint_round_trips_every_dtype_and_the_package_reads_it(tmp_path) -> None:
    arrays = _every_dtype()
    path = tmp_path / "c.safetensors"
    engine.save(arrays, path)
    _assert_same(arrays, engine.load(path))
    theirs = st_numpy.load_file(path)
    _assert_same(arrays, theirs)
    assert theirs["t_u16"].tolist() == [[0, 65535, 0], [1, 65534, 7]]


def test_export_container_round_trips_every_dtype_and_the_package_reads_it(tmp_path) -> None:
    arrays = _every_dtype()
    path = write_safetensors(tmp_path / "e.safetensors", arrays, {"kind": "test"})
    back, meta = read_safetensors(path)
    _assert_same(arrays, back)
    assert meta["kind"] == "test" and meta["checksum"].startswith("sha256:")
    _assert_same(arrays, st_numpy.load_file(path))
    assert back["t_u16"].dtype == np.uint16 and back["t_u64"].max() == np.iinfo(np.uint64).max


def test_torch_reads_unsigned_and_half_tensors(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    arrays = {"u16": np.array([1, 65535], np.uint16), "f16": np.array([0.5, -2], np.float16),
              "u8": np.array([3, 255], np.uint8)}
    engine.save(arrays, tmp_path / "t.safetensors")
    theirs = load_file(tmp_path / "t.safetensors")
    assert theirs["u16"].dtype == torch.uint16 and theirs["u16"].to(torch.int32).tolist() == [
        1, 65535]
    assert theirs["f16"].tolist() == [0.5, -2.0] and theirs["u8"].tolist() == [3, 255]


def test_files_the_package_writes_load(tmp_path) -> None:
    arrays = _every_dtype()
    path = tmp_path / "foreign.safetensors"
    st_numpy.save_file(arrays, path, metadata={"b": "2", "a": "1"})
    contents = read_file(path, ExportError, "file")
    _assert_same(arrays, contents.tensors)
    assert contents.metadata == {"a": "1", "b": "2"}
    loaded = engine.load(path)  # no engine metadata: a flat dict of tensors
    assert loaded["t_u16"].numpy().tolist() == arrays["t_u16"].tolist()


def test_layout_is_sorted_and_aligned() -> None:
    data = encode({"b": np.ones(3, np.uint8), "a": np.zeros(1, np.float64)}, {"z": "1", "y": "2"})
    size = struct.unpack("<Q", data[:8])[0]
    assert size % 8 == 0
    header = data[8:8 + size].decode().rstrip(" ")
    assert header == ('{"__metadata__":{"y":"2","z":"1"},'
                      '"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},'
                      '"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}')
    assert data[8 + size:] == np.zeros(1).tobytes() + b"\x01\x01\x01"


_DETERMINISM = """
import hashlib, io, sys
import numpy as np
import engine
from engine.export.container import write_safetensors
state = {f"layer{i}": {"weight": engine.ones(2, i + 1), "step": i, "name": f"n{i}"}
         for i in (3, 1, 2, 0)}
state["u16"] = np.arange(5, dtype=np.uint16)
buf = io.BytesIO()
engine.save(state, buf)
write_safetensors(sys.argv[1], {k: np.full(3, i, np.float32) for i, k in enumerate("qwerty")},
                  {"b": "1", "a": "2", "graph": "{}"})
print(hashlib.sha256(buf.getvalue()).hexdigest(), hashlib.sha256(open(sys.argv[1], "rb").read()
      ).hexdigest())
"""


def test_same_input_gives_same_bytes_across_processes(tmp_path) -> None:
    digests = []
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", _DETERMINISM, str(tmp_path / f"{seed}.st")],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        digests.append(out.stdout.split())
    assert digests[0] == digests[1] and len(digests[0]) == 2
    assert (tmp_path / "1.st").read_bytes() == (tmp_path / "12345.st").read_bytes()


# ----- damage: each kind, under the error type the caller picks -------------------------------

def _file(header: object, data: bytes = b"", size: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if size is None else size) + raw + data


_F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
DAMAGE = {
    "short": (b"\x05\x00", r"is truncated: 2 bytes, not even a header length"),
    "header beyond file": (_file({}, size=64), r"is truncated or not a valid safetensors file: "
                           r"header claims 64 bytes but the file has 2 after the length"),
    "header too long": (_file({}, size=10**9), r"header claims 1000000000 bytes"),
    "invalid json": (_file(b"{not json}"), r"is not a valid safetensors file: invalid JSON "
                     r"header \(Expecting property name"),
    "nested json": (_file(b"[" * 100000 + b"]" * 100000),
                    r"invalid JSON header \(nested too deeply\)"),
    "not an object": (_file([1, 2]), r"has an invalid header: expected a JSON object"),
    "bad metadata": (_file({"__metadata__": {"a": 1}}), r"has invalid metadata: expected a "
                     r"string -> string map"),
    "unknown dtype": (_file({"w": {**_F32x2, "dtype": "X9"}}, bytes(8)),
                      r"has a malformed header entry for tensor 'w': \{\"dtype\": \"X9\""),
    "float shape": (_file({"w": {**_F32x2, "shape": [2.0]}}, bytes(8)), r"malformed.*'w'"),
    "bool offset": (_file({"w": {**_F32x2, "data_offsets": [False, 8]}}, bytes(8)),
                    r"malformed.*'w'"),
    "bf16": (_file({"w": {**_F32x2, "dtype": "BF16", "data_offsets": [0, 4]}}, bytes(4)),
             r"holds tensor 'w' as BF16, which NumPy has no type for; convert it to float32"),
    "data truncated": (_file({"w": _F32x2}, bytes(5)), r"is truncated: tensor 'w' needs bytes "
                       r"0\.\.8 of the data section, which has 5"),
    "size mismatch": (_file({"w": {**_F32x2, "shape": [3]}}, bytes(8)),
                      r"has tensor 'w' with 8 bytes, which does not fit shape \[3\] of F32"),
    "negative offset": (_file({"w": {**_F32x2, "data_offsets": [-8, 0]}}, bytes(8)),
                        r"tensor 'w' with 8 bytes, which does not fit"),
    "negative dim": (_file({"w": {**_F32x2, "shape": [-2]}}, bytes(8)), r"does not fit shape "
                     r"\[-2\]"),
    "overlap": (_file({"a": _F32x2, "b": {**_F32x2, "data_offsets": [4, 12]}}, bytes(12)),
                r"has overlapping tensors: 'a' \(bytes 0\.\.8\) and 'b' \(bytes 4\.\.12\)"),
}


@pytest.mark.parametrize("error", [CheckpointError, ExportError])
@pytest.mark.parametrize("kind", list(DAMAGE))
def test_each_damage_raises_the_callers_error(kind: str, error: type[Exception]) -> None:
    blob, match = DAMAGE[kind]
    with pytest.raises(error, match=match) as info:
        decode(blob, error, "model m.safetensors", "write it again")
    message = str(info.value)
    assert message.startswith("model m.safetensors ") and "\n" not in message
    assert message.endswith("write it again") or kind == "bf16"


def test_damage_through_load_and_read_names_the_file(tmp_path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(DAMAGE["overlap"][0])
    with pytest.raises(CheckpointError, match=f"checkpoint '{path}' has overlapping tensors.*"
                                              "truncated or corrupt, write it again"):
        engine.load(path)
    with pytest.raises(ExportError, match=f"exported model {path} has overlapping tensors.*"
                                          "re-export it"):
        read_safetensors(path)
    with pytest.raises(CheckpointError, match="checkpoint '<file object>' is truncated"):
        engine.load(io.BytesIO(b"\x01"))


def test_non_regular_and_missing_files_are_refused(tmp_path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    for target in (fifo, tmp_path, Path("/dev/null")):
        with pytest.raises(CheckpointError, match=f"checkpoint {target} is not a regular file"):
            engine.load(target)  # a FIFO without a writer would block an open forever
        with pytest.raises(ExportError, match=f"exported model {target} is not a regular file"):
            read_safetensors(target)
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*gone: no such file"):
        engine.load(tmp_path / "gone")


def test_unstorable_dtype_names_the_tensor(tmp_path) -> None:
    with pytest.raises(ExportError, match=r"cannot store tensor 'c' of dtype complex64 in "
                                          "exported model"):
        write_safetensors(tmp_path / "x.safetensors", {"c": np.zeros(2, np.complex64)}, {})
    assert not list(tmp_path.iterdir())


# ----- durability ----------------------------------------------------------------------------

@pytest.fixture
def fsyncs(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))
    return calls


def test_checkpoints_and_exports_are_synced(tmp_path, fsyncs) -> None:
    engine.save({"w": engine.ones(2)}, tmp_path / "c.safetensors")
    assert len(fsyncs) == 2  # the file's bytes, then the folder holding its new name
    write_safetensors(tmp_path / "e.safetensors", {"w": np.ones(2, np.float32)}, {})
    assert len(fsyncs) == 4
    write_file(tmp_path / "scratch.bin", b"abc", OSError, "scratch", fsync=False)
    assert len(fsyncs) == 4 and (tmp_path / "scratch.bin").read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors", "e.safetensors",
                                                          "scratch.bin"]


def test_a_failed_write_keeps_the_old_file_and_names_the_error(tmp_path, monkeypatch) -> None:
    path = tmp_path / "c.safetensors"
    engine.save({"w": engine.ones(2)}, path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CheckpointError, match=f"cannot write checkpoint {path}: No space left"):
        engine.save({"w": engine.zeros(2)}, path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
