"""Issue acceptance: PyTorch MLP/SmallCNN weights cross over via safetensors in both directions
with equal logits and parameter gradients; the seed example trains with only imports changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import engine as en
from trainer.zoo import MLP, SmallCNN

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")
st_numpy = pytest.importorskip("safetensors.numpy")
tnn = torch.nn


class TorchMLP(tnn.Module):
    def __init__(self, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers, width = [tnn.Flatten()], 784
        for size in hidden:
            layers += [tnn.Linear(width, size), tnn.ReLU()]
            width = size
        self.net = tnn.Sequential(*layers, tnn.Linear(width, 10))

    def forward(self, x: object) -> object:
        return self.net(x)


class TorchSmallCNN(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2))
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(1568, 128), tnn.ReLU(),
                                         tnn.Linear(128, 10))

    def forward(self, x: object) -> object:
        return self.classifier(self.features(x))


MODELS = {
    "mlp": (lambda: MLP(), lambda: TorchMLP((128,))),
    "mlp_deep": (lambda: MLP(hidden=(64, 32)), lambda: TorchMLP((64, 32))),
    "cnn": (SmallCNN, TorchSmallCNN),
}


def _compare(ours: object, theirs: object) -> None:
    """Same batch through both: logits, loss and every parameter gradient agree (fp32)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    logits = ours(en.tensor(x))
    t_logits = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(logits.detach().numpy(), t_logits.detach().numpy(), atol=1e-5,
                               rtol=1e-4)
    loss = en.nn.functional.cross_entropy(logits, en.tensor(y))
    t_loss = tnn.functional.cross_entropy(t_logits, torch.from_numpy(y))
    assert abs(loss.item() - t_loss.item()) < 1e-5
    loss.backward()
    t_loss.backward()
    t_params = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(t_params)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), atol=1e-5,
                                   rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_weights_load_into_ours(name: str, tmp_path: Path) -> None:
    make_ours, make_theirs = MODELS[name]
    torch.manual_seed(0)
    theirs = make_theirs()
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(theirs.state_dict(), str(path))
    ours = make_ours()
    result = ours.load_state_dict(st_numpy.load_file(str(path)))
    assert result.missing_keys == [] and result.unexpected_keys == []
    _compare(ours, theirs)


@pytest.mark.parametrize("name", list(MODELS))
def test_our_weights_load_into_torch(name: str, tmp_path: Path) -> None:
    make_ours, make_theirs = MODELS[name]
    en.manual_seed(1)
    ours = make_ours()
    path = tmp_path / "ours.safetensors"
    st_numpy.save_file({k: v.numpy() for k, v in ours.state_dict().items()}, str(path))
    theirs = make_theirs()
    theirs.load_state_dict(st_torch.load_file(str(path)))
    _compare(ours, theirs)


def test_seed_example_runs_and_learns() -> None:
    # The seed example, verbatim apart from the imports.
    import engine as en
    import engine.nn.functional as F
    from engine import nn, optim

    class SimpleNet(nn.Module):
        def __init__(self):
            super(SimpleNet, self).__init__()  # noqa: UP008 - verbatim PyTorch style
            self.fc1 = nn.Linear(28*28, 128)  # noqa: E226
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = x.view(-1, 28*28)  # noqa: E226
            x = F.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    model = SimpleNet()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.001)

    # A small learnable batch: the label is which of 10 image regions is brightest.
    rng = np.random.default_rng(0)
    labels_np = rng.integers(0, 10, 64)
    images_np = rng.random((64, 1, 28, 28), dtype=np.float32) * 0.5
    for i, label in enumerate(labels_np):
        images_np[i, 0, 2 * label:2 * label + 3, :] += 1.0
    images, labels = en.tensor(images_np), en.tensor(labels_np)
    losses = []
    for _ in range(25):
        outputs = model(images)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert (model(images).argmax(1).numpy() == labels_np).mean() == 1.0
