"""Every layer module against its PyTorch twin built with the same arguments and weights:
output, input gradient and parameter gradients."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine import nn

torch = pytest.importorskip("torch")
tnn = torch.nn

LAYERS = [
    ("Linear", (3, 4), (2, 3)),
    ("Linear", (3, 4, False), (2, 5, 3)),
    ("Conv2d", (2, 4, 3), (2, 2, 6, 6)),
    ("Conv2d", (4, 6, (3, 2)), (1, 4, 7, 6)),
    ("Conv2d", (2, 4, 3, 1, "same", 2, 2, False), (2, 2, 6, 5)),
    ("Conv2d", (3, 2, 2, 2, 1), (1, 3, 5, 5)),
    ("MaxPool2d", (2,), (2, 3, 6, 6)),
    ("MaxPool2d", (3, 2, 1), (1, 2, 7, 7)),
    ("MaxPool2d", (2, 2, 0, 1, False, True), (1, 2, 5, 5)),
    ("AvgPool2d", (2,), (2, 3, 6, 6)),
    ("AvgPool2d", (3, 1, 1, False, False), (1, 2, 5, 5)),
    ("AdaptiveAvgPool2d", ((3, 2),), (2, 2, 7, 5)),
    ("AdaptiveAvgPool2d", (1,), (2, 3, 4, 4)),
    ("ReLU", (), (3, 4)),
    ("LeakyReLU", (0.1,), (3, 4)),
    ("GELU", (), (3, 4)),
    ("GELU", ("tanh",), (3, 4)),
    ("Sigmoid", (), (3, 4)),
    ("Tanh", (), (3, 4)),
    ("Softmax", (1,), (3, 4)),
    ("LogSoftmax", (-1,), (3, 4)),
    ("Flatten", (), (2, 3, 2, 2)),
    ("Flatten", (0, 1), (2, 3, 4)),
    ("Unflatten", (1, (2, 2)), (3, 4)),
    ("Identity", (), (3, 4)),
    ("Dropout", (0.3,), (3, 4)),  # compared in eval mode (identity)
    ("BatchNorm1d", (3,), (4, 3)),
    ("BatchNorm2d", (3,), (4, 3, 2, 2)),
    ("LayerNorm", (4,), (2, 3, 4)),
    ("LayerNorm", ((3, 4), 1e-3), (2, 3, 4)),
    ("LayerNorm", (4, 1e-5, True, False), (3, 4)),
    ("LayerNorm", (4, 1e-5, False), (3, 4)),
    ("GroupNorm", (2, 4), (2, 4, 3)),
    ("GroupNorm", (3, 6, 1e-3, False), (2, 6, 2, 2)),
    ("PReLU", (3, 0.1), (2, 3, 4)),
    ("Dropout1d", (0.3,), (2, 3, 4)),
    ("Dropout2d", (0.3,), (2, 3, 4, 4)),
]


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("case", LAYERS, ids=lambda c: f"{c[0]}{c[1]}")
def test_layer_matches_torch(case: tuple) -> None:
    name, args, shape = case
    theirs = getattr(tnn, name)(*args)
    ours = getattr(nn, name)(*args)
    assert [k for k in ours.state_dict()] == [k for k in theirs.state_dict()]
    assert repr(ours) == repr(theirs)
    with torch.no_grad():  # non-default values, so loading them is seen in the outputs
        for p in theirs.parameters():
            p.add_(torch.rand(p.shape))
    ours.load_state_dict(theirs.state_dict())
    if name.startswith("Dropout"):
        ours.eval(), theirs.eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    xe, xt = en.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    oe, ot = ours(xe), theirs(xt)
    assert oe.shape == tuple(ot.shape)
    np.testing.assert_allclose(oe.detach().numpy(), ot.detach().numpy(), atol=1e-5, rtol=1e-4)
    g = rng.standard_normal(oe.shape).astype(np.float32)
    oe.backward(en.tensor(g))
    ot.backward(torch.tensor(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-5, rtol=1e-4)
    t_params = dict(theirs.named_parameters())
    for key, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[key].grad.numpy(), atol=1e-4,
                                   rtol=1e-4, err_msg=key)


def test_layer_parameter_shapes_and_default_init_ranges() -> None:
    conv = nn.Conv2d(4, 8, (3, 5), groups=2)
    assert conv.weight.shape == (8, 2, 3, 5) and conv.bias.shape == (8,)
    bound = 1 / np.sqrt(2 * 15)
    assert conv.weight.abs().max().item() <= bound and conv.bias.abs().max().item() <= bound
    assert nn.Linear(5, 2, bias=False).bias is None
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
