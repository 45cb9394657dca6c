"""A loaded script export runs where its input lies: host, first GPU, second GPU."""

from __future__ import annotations

import numpy as np

import engine as en
import engine.nn.functional as F
from engine import backend, nn


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3, padding=1), nn.Linear(2 * 2 * 2, 3)

    def forward(self, x: en.Tensor) -> en.Tensor:
        return self.fc(F.max_pool2d(F.relu(self.conv(x)), 2).flatten(1))


def test_script_runs_on_each_device_its_inputs_come_from(two_gpus: None, tmp_path) -> None:
    en.manual_seed(0)
    model = _Net().eval()
    x = en.randn(3, 1, 4, 4)
    ref = model(x).detach().numpy()
    run = en.export.load(en.export.export(model, x, tmp_path / "m.script", format="script"))
    host = x.numpy()
    # a GPU first, then the other GPU, then the host: each gets its own compiled program
    for device in ("cuda:0", "cuda:1", "cpu", "cuda:1"):
        out = run(backend.to_device(host, device))
        assert backend.device_of(out) == device
        np.testing.assert_allclose(backend.to_device(out, "cpu"), ref, rtol=1e-5, atol=1e-5)
    assert sorted(run._programs) == ["cpu", "cuda:0", "cuda:1"]
