"""Pillow, imported on first use: reading and writing image files is optional (extra `image`)."""

from __future__ import annotations

from types import ModuleType

from engine.errors import DataError


def pil_image() -> ModuleType:
    """PIL.Image, or one line saying how to install it."""
    try:
        from PIL import Image  # noqa: PLC0415 - optional and slow to import
    except ImportError:
        raise DataError("reading or writing image files needs Pillow: "
                        "pip install 'gradwell[image]'") from None
    return Image
