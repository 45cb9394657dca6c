"""Transforms: exact values on the per-sample and the batched path, and seeded randomness."""

from __future__ import annotations

import numpy as np
import pytest

from datasets import transforms as T


@pytest.fixture
def batch() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(32, 28, 28), dtype=np.uint8)


def test_to_tensor_values_and_layout(batch):
    one = T.ToTensor()(batch[3])
    assert one.dtype == np.float32 and one.shape == (1, 28, 28)
    np.testing.assert_array_equal(one[0], batch[3].astype(np.float32) / np.float32(255))
    assert one[0, 0, 0] == np.float32(batch[3, 0, 0]) / np.float32(255)
    hwc = np.stack([batch[0], batch[1], batch[2]], axis=-1)
    chw = T.ToTensor()(hwc)
    assert chw.shape == (3, 28, 28)
    np.testing.assert_array_equal(chw[1], batch[1] / np.float32(255))
    floats = np.full((2, 2), 3.5, dtype=np.float64)
    np.testing.assert_array_equal(T.ToTensor()(floats), np.full((1, 2, 2), 3.5, np.float32))


def test_normalize_values():
    x = np.array([[[0.0, 0.5], [1.0, 0.25]]], dtype=np.float32)
    out = T.Normalize((0.5,), (0.25,))(x)
    np.testing.assert_array_equal(out, [[[-2.0, 0.0], [2.0, -1.0]]])
    assert out.dtype == np.float32 and x[0, 0, 0] == 0.0  # input untouched
    rgb = np.ones((3, 2, 2), np.float32)
    out = T.Normalize((0.0, 0.5, 1.0), (1.0, 0.5, 2.0))(rgb)
    np.testing.assert_array_equal(out[:, 0, 0], [1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="std"):
        T.Normalize(0.0, 0.0)


def test_batched_path_is_bit_identical_to_per_sample(batch):
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    fast = tf.apply_batch(batch, np.random.default_rng(0))
    slow = np.stack([tf(img) for img in batch])
    assert fast.shape == (32, 1, 28, 28) and fast.dtype == np.float32
    assert fast.tobytes() == slow.tobytes()
    expected = (batch[5].astype(np.float64) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(fast[5, 0], expected, rtol=1e-5, atol=1e-6)


def test_lambda_per_sample_and_batched(batch):
    per = T.Lambda(lambda x: x[:2, :2] * 2)
    np.testing.assert_array_equal(per.apply_batch(batch, None), batch[:, :2, :2] * 2)
    whole = T.Lambda(lambda b: b.reshape(len(b), -1), batched=True)
    assert whole.apply_batch(batch, None).shape == (32, 784)
    assert T.supports_batch(per) and not T.supports_batch(lambda x: x)


def test_random_crop_windows(batch):
    crop = T.RandomCrop(28, padding=4)
    out = crop.apply_batch(batch, np.random.default_rng(1))
    padded = np.pad(batch, ((0, 0), (4, 4), (4, 4)))
    seen = set()
    for img, src in zip(out, padded, strict=True):
        hits = [(y, x) for y in range(9) for x in range(9)
                if np.array_equal(src[y : y + 28, x : x + 28], img)]
        assert hits, "every crop is a 28x28 window of the padded image"
        seen.add(hits[0])
    assert len(seen) > 10  # offsets vary across the batch
    again = crop.apply_batch(batch, np.random.default_rng(1))
    np.testing.assert_array_equal(out, again)


def test_random_crop_on_channels_and_single_sample(batch):
    chw = batch[:4, None].astype(np.float32)
    out = T.RandomCrop((20, 24)).apply_batch(chw, np.random.default_rng(0))
    assert out.shape == (4, 1, 20, 24)
    with T.rng_scope(np.random.default_rng(5)):
        one = T.RandomCrop(10, padding=(1, 2))(batch[0])
    assert one.shape == (10, 10)
    with pytest.raises(ValueError, match="larger"):
        T.RandomCrop(40).apply_batch(batch, np.random.default_rng(0))


def test_horizontal_flip(batch):
    out = T.RandomHorizontalFlip(0.5).apply_batch(batch, np.random.default_rng(2))
    flipped = [np.array_equal(o, b[:, ::-1]) for o, b in zip(out, batch, strict=True)]
    kept = [np.array_equal(o, b) for o, b in zip(out, batch, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 5 < sum(flipped) < 27
    np.testing.assert_array_equal(
        T.RandomHorizontalFlip(1.0).apply_batch(batch, np.random.default_rng(0)), batch[:, :, ::-1])
    np.testing.assert_array_equal(
        T.RandomHorizontalFlip(0.0).apply_batch(batch, np.random.default_rng(0)), batch)


def test_affine_rotation_matches_rot90():
    img = np.arange(25, dtype=np.uint8).reshape(5, 5)
    out = T.RandomAffine(degrees=(90, 90)).apply_batch(img[None], np.random.default_rng(0))
    np.testing.assert_array_equal(out[0], np.rot90(img))  # positive = counter-clockwise


def test_affine_translation_is_a_shift_with_fill(batch):
    out = T.RandomAffine(0, translate=(0.1, 0.1), fill=0).apply_batch(
        batch, np.random.default_rng(3))
    shifts = set()
    for img, src in zip(out, batch, strict=True):
        found = None
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                ref = np.zeros_like(src)
                ys, xs = slice(max(dy, 0), 28 + min(dy, 0)), slice(max(dx, 0), 28 + min(dx, 0))
                ref[ys, xs] = src[max(-dy, 0) : 28 - max(dy, 0), max(-dx, 0) : 28 - max(dx, 0)]
                if np.array_equal(ref, img):
                    found = (dy, dx)
        assert found is not None
        shifts.add(found)
    assert len(shifts) > 5


def test_affine_small_rotation_keeps_centre(batch):
    out = T.RandomAffine(10).apply_batch(batch, np.random.default_rng(4))
    assert out.shape == batch.shape and out.dtype == np.uint8
    # The rotation centre (13.5, 13.5) maps to itself, so the central 2x2 stays put.
    np.testing.assert_array_equal(out[:, 13:15, 13:15], batch[:, 13:15, 13:15])


def test_per_sample_randomness_comes_from_rng_scope(batch):
    tf = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip()])
    with T.rng_scope(np.random.default_rng(9)):
        a = [tf(img) for img in batch[:8]]
    with T.rng_scope(np.random.default_rng(9)):
        b = [tf(img) for img in batch[:8]]
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    assert tf.random and not T.Compose([T.ToTensor()]).random


def test_repr_names_arguments():
    assert repr(T.Normalize((0.5,), (0.2,))) == "Normalize(mean=[0.5], std=[0.2], inplace=False)"
    assert "RandomCrop(size=(28, 28), padding=(4, 4, 4, 4)" in repr(T.RandomCrop(28, padding=4))



def test_compose_with_plain_callable_falls_back_to_per_sample(batch, tmp_path):
    from datasets import DataLoader, IDXDataset, write_idx

    plain = T.Compose([T.ToTensor(), lambda x: x * 2])
    assert not T.supports_batch(plain)
    assert T.supports_batch(T.Compose([T.Lambda(lambda x: x * 2), T.ToTensor()]))
    assert T.supports_batch(T.Compose([T.ToTensor(), T.Lambda(lambda b: b * 2, batched=True)]))
    # After ToTensor a per-sample Lambda gets Tensors, so it runs on the per-sample path.
    assert not T.supports_batch(T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2)]))
    write_idx(tmp_path / "images", batch)
    write_idx(tmp_path / "labels", np.arange(len(batch), dtype=np.uint8))
    dataset = IDXDataset(tmp_path / "images", tmp_path / "labels", transform=plain)
    images, _ = next(iter(DataLoader(dataset, batch_size=4)))
    expected = np.stack([plain(img) for img in batch[:4]])
    np.testing.assert_array_equal(images.numpy(), expected)


def test_to_tensor_gives_an_engine_tensor_like_torchvision(batch):
    import engine as en

    img = T.ToTensor()(batch[3])
    assert isinstance(img, en.Tensor) and img.dtype == en.float32 and img.shape == (1, 28, 28)
    np.testing.assert_array_equal(img.numpy()[0], batch[3] / np.float32(255))
    assert 0.0 <= img.min().item() and img.max().item() <= 1.0
    torch = pytest.importorskip("torch")
    # torchvision's ToTensor on a uint8 image: from_numpy, CHW, float, div(255).
    expected = torch.from_numpy(batch[3]).unsqueeze(0).float().div(255)
    assert img.numpy().tobytes() == expected.numpy().tobytes()
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()(img)


def test_transforms_take_tensors_and_give_tensors(batch):
    import engine as en

    img = T.ToTensor()(batch[0])
    out = T.Normalize((0.5,), (0.25,))(img)
    assert isinstance(out, en.Tensor)
    np.testing.assert_array_equal(out.numpy(), (img.numpy() - np.float32(0.5)) / np.float32(0.25))
    with T.rng_scope(np.random.default_rng(0)):
        crop = T.RandomCrop(20)(img)
        flip = T.RandomHorizontalFlip(1.0)(img)
    assert isinstance(crop, en.Tensor) and crop.shape == (1, 20, 20)
    np.testing.assert_array_equal(flip.numpy(), img.numpy()[..., ::-1])
    pipeline = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,)),
                          T.Lambda(lambda t: t * 2)])
    y = pipeline(batch[1])
    assert isinstance(y, en.Tensor)
    ref = (batch[1] / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081) * 2
    np.testing.assert_allclose(y.numpy()[0], ref, rtol=1e-6)
    raw = T.RandomCrop(10)(batch[2])  # an image that is not a Tensor stays an array
    assert isinstance(raw, np.ndarray) and raw.shape == (10, 10)


def test_lambda_after_to_tensor_sees_tensors_in_the_loader(batch, tmp_path):
    import engine as en
    from datasets import DataLoader, IDXDataset, write_idx

    seen = []

    def three_channels(x):  # grey to RGB on a 1 x H x W Tensor, with a Tensor-only function
        seen.append(type(x))
        return en.cat([x, x, x], dim=0)

    write_idx(tmp_path / "images", batch)
    write_idx(tmp_path / "labels", np.arange(len(batch), dtype=np.uint8))
    tf = T.Compose([T.ToTensor(), T.Lambda(three_channels)])
    dataset = IDXDataset(tmp_path / "images", tmp_path / "labels", transform=tf)
    images, _ = next(iter(DataLoader(dataset, batch_size=4)))
    assert seen and all(t is en.Tensor for t in seen)
    assert images.shape == (4, 3, 28, 28)
    np.testing.assert_array_equal(images.numpy()[:, 2], batch[:4] / np.float32(255))
