"""engine.save / engine.load: bit-exact round trips, plain values, devices, damage."""

from __future__ import annotations

import io
import json
import math
import os

import numpy as np
import pytest

import engine as en
from engine import optim


def _assert_identical(a, b, where: str = "<root>") -> None:
    """Same types, same plain values, tensors with equal dtype, shape and bytes."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, en.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.requires_grad == b.requires_grad, where
        assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes(), where
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _assert_identical(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_identical(x, y, f"{where}.{i}")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


def _every_dtype() -> dict:
    rng = np.random.default_rng(0)
    nan_payload = np.array([np.nan, 1.0], np.float32)
    nan_payload.view(np.uint32)[0] |= 0x1234  # a NaN with a payload survives bit for bit
    return {
        "f32": en.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
        "f64": en.tensor(rng.standard_normal(5)),
        "f16": en.tensor(rng.standard_normal(6).astype(np.float16)),
        "nan": en.tensor(nan_payload),
        "i64": en.tensor(np.array([-(2**62), 0, 2**62], np.int64)),
        "i32": en.tensor(np.arange(4, dtype=np.int32)),
        "u8": en.tensor(np.arange(250, 256, dtype=np.uint8)),
        "bool": en.tensor(np.array([True, False, True])),
        "scalar": en.tensor(np.float32(2.5)),
        "empty": en.zeros(0, 3),
        "view": en.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)).t(),  # not contiguous
    }


def test_round_trip_is_bit_exact_with_plain_values(tmp_path) -> None:
    shared = en.randn(2)
    obj = {
        "tensors": _every_dtype(),
        "plain": {"int": 7, "big": 2**100, "neg": -3, "float": 0.1, "tiny": 5e-324,
                  "nan": float("nan"), "inf": math.inf, "-inf": -math.inf, "-0": -0.0,
                  "str": "héllo \"quoted\" \n", "true": True, "false": False, "none": None,
                  "list": [1, 2.5, "x", None, [3, (4, 5)]], "tuple": (1, ("a", None), []),
                  "empty": {}},
        "int_keys": {0: "zero", 1: {"step": en.tensor(3.0)}, -2: None},
        "odd_keys": {(1, "a"): 1, 2.5: 2, None: 3, True: 4, "__tensor__": 5},
        "numpy": np.arange(6, dtype=np.int16).reshape(2, 3),
        "shared": [shared, shared],
    }
    path = tmp_path / "all.safetensors"
    en.save(obj, path)
    back = en.load(path)
    _assert_identical(obj, back)
    assert back["shared"][0] is back["shared"][1]  # a tensor stored twice comes back shared
    assert back["tensors"]["f32"]._data.flags.writeable
    assert sorted(os.listdir(tmp_path)) == ["all.safetensors"]  # no temporary file left


def _trained_model_and_adam():
    rng = np.random.default_rng(0)
    model = {"fc1.weight": en.nn.Parameter(en.tensor(rng.standard_normal((4, 3)), en.float32)),
             "fc1.bias": en.nn.Parameter(en.zeros(4))}
    opt = optim.Adam(model.values(), lr=0.01, amsgrad=True)
    for _ in range(3):
        opt.zero_grad()
        x = en.tensor(rng.standard_normal((5, 3)).astype(np.float32))
        ((x @ model["fc1.weight"].t() + model["fc1.bias"]).tanh() ** 2).sum().backward()
        opt.step()
    return model, opt


def test_model_and_optimizer_state_round_trip(tmp_path) -> None:
    model, opt = _trained_model_and_adam()
    state = {"model": {k: v.detach() for k, v in model.items()},
             "optimizer": opt.state_dict(), "epoch": 3}
    en.save(state, tmp_path / "ckpt.safetensors")
    back = en.load(str(tmp_path / "ckpt.safetensors"))
    _assert_identical(state, back)
    assert isinstance(back["optimizer"]["param_groups"][0]["betas"], tuple)
    assert list(back["optimizer"]["state"]) == [0, 1]


def test_parameters_keep_their_type(tmp_path) -> None:
    p = en.nn.Parameter(en.ones(2))
    en.save({"p": p, "t": en.ones(2)}, tmp_path / "p.safetensors")
    back = en.load(tmp_path / "p.safetensors")
    assert isinstance(back["p"], en.nn.Parameter) and back["p"].requires_grad
    assert type(back["t"]) is en.Tensor and not back["t"].requires_grad


def test_torch_reads_a_saved_model_state_dict(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    model, _ = _trained_model_and_adam()
    en.save({k: v.detach() for k, v in model.items()}, tmp_path / "m.safetensors")
    theirs = load_file(tmp_path / "m.safetensors")
    assert sorted(theirs) == sorted(model)  # tensors are stored under their state-dict keys
    for k, v in model.items():
        np.testing.assert_array_equal(theirs[k].numpy(), v.detach().numpy())
    # and a plain safetensors file written by torch loads as a flat dict of tensors
    save_file({"w": torch.arange(6.0).reshape(2, 3)}, tmp_path / "t.safetensors")
    back = en.load(tmp_path / "t.safetensors")
    assert list(back) == ["w"] and back["w"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_map_location(tmp_path, backend: str) -> None:
    obj = {"w": en.randn(3, device=backend), "n": 1}
    en.save(obj, tmp_path / "d.safetensors")
    for where in ("cpu", backend):
        back = en.load(tmp_path / "d.safetensors", map_location=where)
        assert back["w"].device == where
        _assert_identical(obj["w"].to("cpu"), back["w"].to("cpu"))
    assert en.load(tmp_path / "d.safetensors")["w"].device == backend  # default: where it was


def test_cuda_map_location_without_cuda(tmp_path) -> None:
    if en.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    en.save({"w": en.ones(1)}, tmp_path / "c.safetensors")
    with pytest.raises(en.CheckpointError, match="CUDA is not available.*map_location='cpu'"):
        en.load(tmp_path / "c.safetensors", map_location="cuda")


def test_unsupported_value_names_its_place_and_keeps_old_file(tmp_path) -> None:
    path = tmp_path / "keep.safetensors"
    en.save({"a": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"set at 'optimizer\.bad'"):
        en.save({"optimizer": {"bad": {1, 2}}}, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.safetensors"]
    en.save({"a": 2}, path)  # overwriting goes through a temp file and a rename
    assert en.load(path) == {"a": 2}


def _check_damage(path, match: str) -> None:
    with pytest.raises(en.CheckpointError, match=match) as info:
        en.load(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_truncated_and_corrupt_files_raise_checkpoint_error(tmp_path) -> None:
    model, opt = _trained_model_and_adam()
    good = tmp_path / "good.safetensors"
    en.save({"model": model, "optimizer": opt.state_dict()}, good)
    data = good.read_bytes()
    bad = tmp_path / "bad.safetensors"
    for cut in (0, 5, 9, 100, len(data) // 2, len(data) - 1):
        bad.write_bytes(data[:cut])
        _check_damage(bad, "truncated or corrupt")
    bad.write_bytes(b"certainly not a checkpoint" * 10)
    _check_damage(bad, "not a valid safetensors file")
    flipped = bytearray(data)
    flipped[-3] ^= 0xFF  # inside the last tensor's bytes
    bad.write_bytes(bytes(flipped))
    _check_damage(bad, "fails its checksum")
    _check_damage(tmp_path / "missing.safetensors", "no such file")


def test_damaged_metadata_raises_checkpoint_error(tmp_path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "meta.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, path, metadata={"format": "engine", "tree": "{bad"})
    _check_damage(path, "metadata is damaged")
    tree = json.dumps({"w": {"__tensor__": "gone"}})
    save_file({"w": np.zeros(2, np.float32)}, path, metadata={"format": "engine", "tree": tree})
    _check_damage(path, "tensor 'gone' the file lacks")
    save_file({}, path, metadata={"format": "engine", "version": "99", "tree": "1"})
    with pytest.raises(en.CheckpointError, match="newer format version"):
        en.load(path)


def test_save_into_missing_folder(tmp_path) -> None:
    with pytest.raises(en.CheckpointError, match="cannot write"):
        en.save({"a": 1}, tmp_path / "no" / "such" / "x.safetensors")


# ----- file objects, PyTorch's load arguments, PyTorch pickle files ---------------------------

def test_save_load_through_file_objects(tmp_path) -> None:
    import io

    state = {"w": en.randn(3, 2), "step": 7, "nested": [en.arange(4), (1.5, "a")]}
    buffer = io.BytesIO()
    en.save(state, buffer)
    buffer.seek(0)
    _assert_identical(en.load(buffer), state)
    path = tmp_path / "state.pt"
    with open(path, "wb") as handle:
        en.save(state, handle)
    with open(path, "rb") as handle:
        _assert_identical(en.load(handle, weights_only=True), state)
    _assert_identical(en.load(path), state)  # the same bytes as a path gives
    other = io.BytesIO()
    en.save(state, other)
    assert other.getvalue() == path.read_bytes()  # deterministic bytes either way


def test_load_accepts_torch_arguments(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    en.save({"w": en.ones(2)}, path)
    for kwargs in ({"weights_only": True}, {"weights_only": False}, {"weights_only": None},
                   {"mmap": True}, {"map_location": "cpu"}, {"map_location": en.device("cpu")},
                   {"map_location": {"cuda:0": "cpu"}},
                   {"map_location": lambda storage, loc: storage}):
        loaded = en.load(path, **kwargs)
        assert loaded["w"].tolist() == [1.0, 1.0] and loaded["w"].device == "cpu", kwargs
    seen = []
    en.load(path, map_location=lambda t, loc: seen.append(loc) or t * 2)
    assert seen == ["cpu"]
    assert en.load(path, map_location=lambda t, loc: t * 2)["w"].tolist() == [2.0, 2.0]
    with pytest.raises(en.CheckpointError, match="map_location returned a int"):
        en.load(path, map_location=lambda t, loc: 3)


def test_load_map_location_to_gpu(tmp_path, backend) -> None:
    path = tmp_path / "m.safetensors"
    en.save({"w": en.ones(2)}, path)
    assert en.load(path, map_location=backend)["w"].device == backend
    assert en.load(path, map_location=en.device(backend))["w"].device == backend


def test_pytorch_zip_checkpoint_is_refused_in_one_line(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2)}, path)
    assert path.read_bytes()[:4] == b"PK\x03\x04"
    for source in (path, open(path, "rb")):  # noqa: SIM115 - closed below
        with pytest.raises(en.CheckpointError) as info:
            en.load(source, weights_only=False)
        message = str(info.value)
        assert "\n" not in message
        assert "PyTorch checkpoint (torch.save's zip format" in message
        assert "never unpickles" in message
        assert "from safetensors.torch import save_file" in message
        if hasattr(source, "close"):
            source.close()


def test_pytorch_legacy_pickle_is_refused(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b"\x80"
    with pytest.raises(en.CheckpointError, match=r"legacy.pt': it is a Python pickle "
                                                  r"\(PyTorch's legacy torch.save format\)"):
        en.load(path)


def test_conversion_the_message_suggests_loads(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    path = tmp_path / "model.pt"
    torch.save({"fc.weight": torch.arange(6.0).reshape(2, 3)}, path)
    save_file(torch.load(path, weights_only=True), tmp_path / "model.safetensors")
    loaded = en.load(tmp_path / "model.safetensors")
    assert loaded["fc.weight"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_damaged_file_object_is_reported() -> None:
    import io

    with pytest.raises(en.CheckpointError, match="not a valid safetensors file"):
        en.load(io.BytesIO(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}"))


def _edit_header(path, edit) -> None:
    """Rewrite a safetensors file's JSON header through edit(header) -> header, data unchanged."""
    data = open(path, "rb").read()
    size = int.from_bytes(data[:8], "little")
    header = edit(json.loads(data[8:8 + size]))
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    open(path, "wb").write(len(text).to_bytes(8, "little") + text + data[8 + size:])


def _retype(header: dict) -> dict:
    for name, entry in header.items():
        if name != "__metadata__" and entry["dtype"] == "F32":
            entry["dtype"] = "I32"  # same byte count: safetensors itself accepts it
    return header


def test_retyped_header_is_refused_naming_the_file(tmp_path) -> None:
    path = tmp_path / "model.safetensors"
    en.save(en.nn.Linear(3, 2).state_dict(), path)
    _edit_header(path, _retype)
    with pytest.raises(en.errors.CheckpointError, match=f"'{path}'.*does not match the digest"):
        en.load(path)


def test_reshaped_header_and_edited_tree_are_refused(tmp_path) -> None:
    path = tmp_path / "w.safetensors"
    en.save({"w": en.zeros(2, 3), "n": 1}, path)

    def reshape(header: dict) -> dict:
        header["w"]["shape"] = [3, 2]
        return header

    _edit_header(path, reshape)
    with pytest.raises(en.errors.CheckpointError, match="does not match the digest"):
        en.load(path)
    en.save({"w": en.zeros(2, 3), "n": 1}, path)

    def renumber(header: dict) -> dict:
        header["__metadata__"]["tree"] = header["__metadata__"]["tree"].replace('"n":1', '"n":7')
        return header

    _edit_header(path, renumber)
    with pytest.raises(en.errors.CheckpointError, match="does not match the digest"):
        en.load(path)


def test_version_1_files_without_a_digest_still_load(tmp_path) -> None:
    path = tmp_path / "old.safetensors"
    en.save({"w": en.arange(6.0)}, path)

    def downgrade(header: dict) -> dict:
        del header["__metadata__"]["digest"]
        header["__metadata__"]["version"] = "1"
        return header

    _edit_header(path, downgrade)
    assert en.load(path)["w"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_header_length_starting_with_0x80_is_not_taken_for_a_pickle(tmp_path) -> None:
    # a 640-byte header is 80 02 00 .. in its length field: the bytes a protocol-2 pickle opens with
    for n in range(1, 400):
        buffer = io.BytesIO()
        en.save({"k" * n: en.ones(2)}, buffer)
        if buffer.getvalue()[:1] == b"\x80":
            break
    else:
        pytest.fail("no header length with a 0x80 low byte")
    path = tmp_path / "m.safetensors"
    path.write_bytes(buffer.getvalue())
    assert en.load(path)["k" * n].tolist() == [1.0, 1.0]
