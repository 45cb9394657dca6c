"""Sequential's fusions (Linear+ReLU, ReLU+MaxPool2d, Conv2d+ReLU+MaxPool2d) step aside for a
module whose forward was replaced on the instance: what PyTorch calls is that forward."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine import nn

NETS = {
    "linear_relu": (lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU()), (3, 4)),
    "relu_pool": (lambda: nn.Sequential(nn.Identity(), nn.ReLU(), nn.MaxPool2d(2)),
                  (2, 3, 6, 6)),
    "conv_relu_pool": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2)),
                       (2, 3, 8, 8)),
}


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("which", [0, 1, -1])
def test_a_forward_set_on_one_instance_is_what_runs(name: str, which: int) -> None:
    make, shape = NETS[name]
    net = make()
    x = en.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    reference = net(x)
    original = net[which].forward
    calls: list[int] = []

    def doubled(input: en.Tensor) -> en.Tensor:  # noqa: A002
        calls.append(1)
        return original(input) * 2

    net[which].forward = doubled
    out = net(x)
    assert calls == [1]
    # Every module here is positively homogeneous: doubling any one stage doubles the output.
    np.testing.assert_allclose(out.detach().numpy(), 2 * reference.detach().numpy(), rtol=1e-6)
    del net[which].forward
    again = net(x)
    assert calls == [1]  # the class's forward again, fused once more
    np.testing.assert_array_equal(again.detach().numpy(), reference.detach().numpy())
