"""Reads TensorBoard event files back: TFRecord framing and CRC-32C checked independently."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    """CRC-32C of data (table-driven, as in the TFRecord spec)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: Path) -> list[bytes]:
    """The records of one TFRecord file; AssertionError on bad framing or a bad checksum."""
    raw, out, at = path.read_bytes(), [], 0
    while at < len(raw):
        header = raw[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        (head_crc,) = struct.unpack("<I", raw[at + 8:at + 12])
        assert head_crc == masked(header), f"{path}: bad length CRC at byte {at}"
        data = raw[at + 12:at + 12 + length]
        (data_crc,) = struct.unpack("<I", raw[at + 12 + length:at + 16 + length])
        assert len(data) == length and data_crc == masked(data), f"{path}: bad record at {at}"
        out.append(data)
        at += 16 + length
    return out


def read_events(folder: Path) -> list[Any]:
    """Every Event of every event file under folder, file by file in name order."""
    from tensorboardX.proto.event_pb2 import Event

    events = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        for data in read_records(path):
            event = Event()
            event.ParseFromString(data)
            events.append(event)
    return events


def scalars(events: list[Any]) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of the simple-value scalars, in file order."""
    out: dict[str, list[tuple[int, float]]] = {}
    for event in events:
        for value in event.summary.value:
            if value.WhichOneof("value") == "simple_value":
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def hparams_start(events: list[Any]) -> Any:
    """The hparams plugin's SessionStartInfo (the run's hyper-parameters), or None."""
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    for event in events:
        for value in event.summary.value:
            if value.tag == "_hparams_/session_start_info":
                data = HParamsPluginData()
                data.ParseFromString(value.metadata.plugin_data.content)
                return data.session_start_info
    return None
