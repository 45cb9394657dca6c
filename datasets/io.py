"""torchvision.io's image reader: an image file as a uint8 tensor (C, H, W)."""

from __future__ import annotations

import enum
from pathlib import Path

import numpy as np

from datasets._pil import pil_image
from engine.errors import DataError
from engine.tensor import Tensor


class ImageReadMode(enum.Enum):
    """How read_image converts the file's pixels (torchvision's modes)."""

    UNCHANGED = None
    GRAY = "L"
    GRAY_ALPHA = "LA"
    RGB = "RGB"
    RGB_ALPHA = "RGBA"
    RGBA = "RGBA"


def read_image(path: str | Path, mode: ImageReadMode = ImageReadMode.UNCHANGED) -> Tensor:
    """The image at path as a uint8 tensor of shape (channels, height, width)."""
    image_module = pil_image()
    try:
        with image_module.open(path) as image:
            if mode.value is not None:
                image = image.convert(mode.value)
            elif image.mode not in ("L", "LA", "RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.mode else "RGB")
            pixels = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read it as an image ({error})") from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return Tensor._from_array(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
