"""Image transforms with torchvision's names, each with a batched fast path on NumPy arrays.

Every transform is callable on one sample like torchvision's: a uint8 H x W or H x W x C NumPy
image (the role of a PIL image), or a float C x H x W engine Tensor after ToTensor; a Tensor in
gives a Tensor out. Each also has ``apply_batch(batch, rng)`` for a whole NumPy batch (N x H x W
uint8, or N x C x H x W float), which the DataLoader uses when a dataset is array-backed (users
still see Tensors: the loader wraps the batch). Random transforms draw from the Generator they
are given, or on the per-sample path from the one the loader installed with ``rng_scope``, so
the loader's seed fixes every draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine import Tensor, from_numpy
from engine.utils.data._random import current_rng, rng_scope

__all__ = [
    "Compose", "Lambda", "Normalize", "RandomAffine", "RandomCrop", "RandomHorizontalFlip",
    "ToTensor", "Transform", "current_rng", "rng_scope", "supports_batch",
]

def _to_tensor_like(out: np.ndarray, like: Any) -> Any:
    """out as a Tensor on like's device when like is a Tensor, else as it is."""
    if not isinstance(like, Tensor):
        return out
    t = from_numpy(np.ascontiguousarray(out))
    return t if like._device == "cpu" else t.to(like._device)


def _as_numpy(img: Any) -> np.ndarray:
    return img.detach().numpy() if isinstance(img, Tensor) else np.asarray(img)


class Transform:
    """Base class: per-sample ``__call__`` and batched ``apply_batch(batch, rng)``."""

    random: bool = False

    def __call__(self, img: Any) -> Any:
        """Transform one sample (by running the batched path on a batch of one)."""
        return _to_tensor_like(self.apply_batch(_as_numpy(img)[None], current_rng())[0], img)

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transform a batch whose first axis indexes samples; never modifies batch."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def supports_batch(transform: Callable | None) -> bool:
    """True when transform is None or one of these Transforms (so apply_batch exists).

    A per-sample Lambda after ToTensor has no batched path: on the per-sample path it gets a
    Tensor, as in torchvision, and its function may rely on Tensor methods.
    """
    if isinstance(transform, Compose):  # a plain callable inside has no batched path
        after_to_tensor = False
        for t in transform.transforms:
            if not supports_batch(t) or (after_to_tensor and isinstance(t, Lambda)
                                         and not t.batched):
                return False
            after_to_tensor = after_to_tensor or isinstance(t, ToTensor)
        return True
    return transform is None or isinstance(transform, Transform)


class Compose(Transform):
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)
        self.random = any(getattr(t, "random", True) for t in self.transforms)

    def __call__(self, img: Any) -> Any:
        """Apply each transform's per-sample call in turn."""
        for t in self.transforms:
            img = t(img)
        return img

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply each transform's batched path in turn (all must be Transforms)."""
        for t in self.transforms:
            if not isinstance(t, Transform):
                raise TypeError(f"{t!r} has no batched path; wrap it in transforms.Lambda")
            batch = t.apply_batch(batch, rng)
        return batch

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToTensor(Transform):
    """uint8 H x W (or H x W x C) image -> float32 C x H x W Tensor in [0, 1]; other dtypes
    unscaled (as torchvision's)."""

    def __call__(self, pic: Any) -> Tensor:
        """One image as a float32 C x H x W engine Tensor."""
        if isinstance(pic, Tensor) or not isinstance(pic, np.ndarray | list | tuple):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        pic = np.asarray(pic)
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        return from_numpy(np.ascontiguousarray(self.apply_batch(pic[None], current_rng())[0]))

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """N x H x W (or N x H x W x C) -> N x C x H x W float32."""
        batch = batch[:, None] if batch.ndim == 3 else batch.transpose(0, 3, 1, 2)
        out = batch.astype(np.float32)
        if batch.dtype == np.uint8:
            out /= np.float32(255)  # division, not multiplication by 1/255: torchvision's bits
        return out


class Normalize(Transform):
    """(x - mean) / std per channel, in float32, on C x H x W (or N x C x H x W) arrays."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float],
                 inplace: bool = False) -> None:
        self.mean = [float(m) for m in np.atleast_1d(mean)]
        self.std = [float(s) for s in np.atleast_1d(std)]
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std {self.std} contains 0, which would divide by zero")
        self.inplace = inplace
        self._mean = np.asarray(self.mean, dtype=np.float32)[:, None, None]
        self._std = np.asarray(self.std, dtype=np.float32)[:, None, None]

    def __call__(self, tensor: Any) -> Any:
        """Normalize one C x H x W Tensor (or array); the result has the input's type."""
        return _to_tensor_like(self.apply_batch(_as_numpy(tensor), current_rng()), tensor)

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Normalize with (C, 1, 1) statistics broadcast over the trailing axes."""
        out = batch if self.inplace and batch.dtype == np.float32 else None
        out = np.subtract(batch, self._mean, out=out, dtype=np.float32)
        out /= self._std
        return out


class Lambda(Transform):
    """A user function as a transform; batched=True means fn already takes a whole batch."""

    def __init__(self, lambd: Callable[[Any], Any], batched: bool = False) -> None:
        if not callable(lambd):
            raise TypeError(f"Lambda needs a callable, got {type(lambd).__name__}")
        self.lambd = lambd
        self.batched = batched

    def __call__(self, img: Any) -> Any:
        """Apply the function to one sample."""
        return self.lambd(img)

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply the function to the batch, or to each sample and stack the results."""
        if self.batched:
            return np.asarray(self.lambd(batch))
        return np.stack([np.asarray(self.lambd(x)) for x in batch])


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {value!r}")
    return int(value[0]), int(value[1])


def _as_nchw(batch: np.ndarray) -> np.ndarray:
    """View N x H x W or N x C x H x W as N x C x H x W (the spatial axes are the last two)."""
    if batch.ndim not in (3, 4):
        raise ValueError(f"expected a batch N x H x W or N x C x H x W, got shape {batch.shape}")
    return batch[:, None] if batch.ndim == 3 else batch


class RandomCrop(Transform):
    """Crop a random size-sized window, after padding each side by padding (with fill)."""

    random = True

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 fill: float = 0) -> None:
        self.size = _pair(size, "size")
        pad = 0 if padding is None else padding
        pad = [int(pad)] * 4 if isinstance(pad, int | np.integer) else [int(p) for p in pad]
        if len(pad) == 2:
            pad = pad * 2
        if len(pad) != 4 or min(pad) < 0:
            raise ValueError(f"padding must be an int, (lr, tb) or (l, t, r, b) >= 0: {padding}")
        self.padding = tuple(pad)  # left, top, right, bottom, as in torchvision
        self.fill = fill

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One strided-window gather for the whole batch."""
        x = _as_nchw(batch)
        left, top, right, bottom = self.padding
        if any(self.padding):
            x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)),
                       constant_values=self.fill)
        (th, tw), (h, w) = self.size, x.shape[-2:]
        if th > h or tw > w:
            raise ValueError(f"RandomCrop: size {self.size} is larger than the padded {h}x{w}")
        n = x.shape[0]
        ys = rng.integers(0, h - th + 1, size=n)
        xs = rng.integers(0, w - tw + 1, size=n)
        windows = np.lib.stride_tricks.sliding_window_view(x, (th, tw), axis=(2, 3))
        # Advanced indices split by a slice put the batch axis first: n x C x th x tw.
        out = windows[np.arange(n), :, ys, xs]
        return out.reshape(batch.shape[:-2] + (th, tw))


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability p."""

    random = True

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Flip the chosen samples of the batch."""
        flip = rng.random(batch.shape[0]) < self.p
        out = batch.copy()
        out[flip] = batch[flip][..., ::-1]
        return out


class RandomAffine(Transform):
    """Random rotation (degrees), shift (translate fractions) and scale; nearest-neighbour."""

    random = True

    def __init__(self, degrees: float | Sequence[float],
                 translate: Sequence[float] | None = None,
                 scale: Sequence[float] | None = None, fill: float = 0) -> None:
        lo_hi = (-abs(degrees), abs(degrees)) if np.isscalar(degrees) else tuple(degrees)
        self.degrees = (float(lo_hi[0]), float(lo_hi[1]))
        if translate is not None and not all(0 <= t <= 1 for t in translate):
            raise ValueError(f"translate fractions must lie in [0, 1], got {translate}")
        self.translate = None if translate is None else (float(translate[0]), float(translate[1]))
        self.scale = None if scale is None else (float(scale[0]), float(scale[1]))
        self.fill = fill

    def apply_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Map every output pixel back through each sample's inverse transform at once."""
        x = _as_nchw(batch)
        n, _, h, w = x.shape
        angle = np.deg2rad(rng.uniform(*self.degrees, size=n))
        tx = ty = np.zeros(n)
        if self.translate is not None:
            tx = np.round(rng.uniform(-1, 1, size=n) * self.translate[0] * w)
            ty = np.round(rng.uniform(-1, 1, size=n) * self.translate[1] * h)
        s = np.ones(n) if self.scale is None else rng.uniform(*self.scale, size=n)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        yy, xx = np.mgrid[0:h, 0:w]
        # Inverse of "scale, rotate counter-clockwise about the centre, shift".
        dx = xx[None] - cx - tx[:, None, None]
        dy = yy[None] - cy - ty[:, None, None]
        cos, sin = (np.cos(angle) / s)[:, None, None], (np.sin(angle) / s)[:, None, None]
        src_x = np.rint(cos * dx - sin * dy + cx).astype(np.intp)
        src_y = np.rint(sin * dx + cos * dy + cy).astype(np.intp)
        inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
        np.clip(src_x, 0, w - 1, out=src_x)
        np.clip(src_y, 0, h - 1, out=src_y)
        out = x.transpose(0, 2, 3, 1)[np.arange(n)[:, None, None], src_y, src_x]
        out[~inside] = self.fill
        return out.transpose(0, 3, 1, 2).reshape(batch.shape)
