"""Recognise checkpoint files that are not safetensors (PyTorch pickles) and say how to convert."""

from __future__ import annotations

import io
import zipfile

from engine.io.safetensors import MAX_HEADER as _MAX_SAFETENSORS_HEADER

_CONVERT = ("convert it once in PyTorch: from safetensors.torch import save_file; "
            "save_file(torch.load('{name}', weights_only=True), 'model.safetensors') "
            "(for a state dict of tensors), then load the .safetensors file")


def describe_pickle(head: bytes, data: bytes | None, name: str) -> str | None:
    """One line saying why a PyTorch pickle file is refused, or None when it is not one.

    head: the file's first bytes; data: its whole content when in memory (for the zip check).
    """
    if head.startswith(b"PK\x03\x04"):
        kind = "a zip archive"
        try:
            source = io.BytesIO(data) if data is not None else name
            with zipfile.ZipFile(source) as archive:
                if any(n.endswith("data.pkl") for n in archive.namelist()):
                    kind = "a PyTorch checkpoint (torch.save's zip format, holding a pickle)"
        except (zipfile.BadZipFile, OSError):
            pass
        return _refusal(name, kind)
    # A pickle opens with PROTO (0x80); a safetensors file with its header's length, which also
    # starts with 0x80 for 1 in 32 header sizes (640 bytes, ...), but is a small number.
    if head[:1] == b"\x80" and int.from_bytes(head[:8], "little") >= _MAX_SAFETENSORS_HEADER:
        return _refusal(name, "a Python pickle (PyTorch's legacy torch.save format)")
    return None


def _refusal(name: str, kind: str) -> str:
    return (f"cannot load '{name}': it is {kind}, and this library never unpickles files "
            f"(unpickling can run code, whatever weights_only says); {_CONVERT.format(name=name)}")
