"""load_state_dict: in-place copies, NumPy inputs, strict errors naming missing, unexpected and
wrongly shaped keys."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine import nn


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_load_copies_in_place_from_numpy_and_tensors() -> None:
    src, dst = _mlp(), _mlp()
    weight = dst[0].weight
    arrays = {k: v.numpy().copy() for k, v in src.state_dict().items()}
    result = dst.load_state_dict(arrays)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst[0].weight is weight  # same Parameter object: optimizers keep working
    for key, value in dst.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), arrays[key])
    arrays["0.bias"][:] = 7  # no aliasing with the source arrays
    assert not (dst[0].bias.detach().numpy() == 7).any()
    dst.load_state_dict(src.state_dict())
    np.testing.assert_array_equal(dst[2].weight.detach().numpy(), src[2].weight.detach().numpy())
    dst.load_state_dict({k: v.astype(np.float64) for k, v in arrays.items()})
    assert dst[0].weight.dtype == en.float32  # cast to the parameter's dtype


def test_strict_errors_name_every_bad_key() -> None:
    model = _mlp()
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    del sd["2.bias"]
    sd["extra.weight"] = np.zeros(1)
    sd["0.weight"] = np.zeros((5, 4), dtype=np.float32)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(sd)
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "2.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight".' in msg
    assert ("size mismatch for 0.weight: copying a param with shape (5, 4) from checkpoint, the "
            "shape in current model is (3, 4).") in msg
    before = model[0].bias.detach().numpy().copy()
    sd["0.bias"] = np.ones(3, dtype=np.float32)
    with pytest.raises(RuntimeError):
        model.load_state_dict(sd)
    np.testing.assert_array_equal(model[0].bias.detach().numpy(), before)  # nothing half-loaded


def test_non_strict_reports_keys_but_shape_mismatch_still_raises() -> None:
    model = _mlp()
    result = model.load_state_dict({"0.weight": np.ones((3, 4)), "bogus": np.ones(1)},
                                   strict=False)
    assert result.missing_keys == ["0.bias", "2.weight", "2.bias"]
    assert result.unexpected_keys == ["bogus"]
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), 1.0)
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        model.load_state_dict({"0.weight": np.ones((2, 2))}, strict=False)


def test_buffers_round_trip_and_torch_format_dicts() -> None:
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    theirs.train()(torch.randn(4, 1, 5, 5))
    ours = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    ours.load_state_dict(theirs.state_dict())  # torch tensors are read through NumPy
    assert ours[1].num_batches_tracked.item() == 1
    np.testing.assert_allclose(ours[1].running_var.numpy(), theirs[1].running_var.numpy())
    back = {k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(back)
