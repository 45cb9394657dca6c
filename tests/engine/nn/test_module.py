"""nn.Module API: registration order, traversal, modes, hooks, devices/dtypes, containers, repr."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine import nn


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.register_buffer("scale", en.ones(1))
        self.register_buffer("cache", en.zeros(2), persistent=False)
        self.alpha = nn.Parameter(en.tensor([0.5]))

    def forward(self, x: en.Tensor) -> en.Tensor:
        return self.bn(self.conv(x)) * self.alpha * self.scale


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 9, 3))
        self.drop = nn.Dropout(0.5)

    def forward(self, x: en.Tensor) -> en.Tensor:
        return self.head(self.drop(self.block(x)))


def test_registration_order_and_traversal() -> None:
    net = Net()
    assert [n for n, _ in net.named_children()] == ["block", "head", "drop"]
    assert [n for n, _ in net.named_modules()] == [
        "", "block", "block.conv", "block.bn", "head", "head.0", "head.1", "drop"]
    assert [n for n, _ in net.named_parameters()] == [
        "block.alpha", "block.conv.weight", "block.conv.bias", "block.bn.weight", "block.bn.bias",
        "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.block.named_parameters(recurse=False)] == ["alpha"]
    assert [n for n, _ in net.named_buffers()] == [
        "block.scale", "block.cache", "block.bn.running_mean", "block.bn.running_var",
        "block.bn.num_batches_tracked"]
    assert len(list(net.parameters())) == 7 and len(list(net.modules())) == 8
    assert net.get_submodule("head.1") is net.head[1]
    assert [n for n, _ in net.named_parameters(prefix="model")][0] == "model.block.alpha"


def test_state_dict_keys_match_torch_and_are_detached() -> None:
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    ours = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2, 2, bias=False), nn.BatchNorm1d(2, affine=False))
    theirs = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.BatchNorm2d(2), tnn.ReLU(), tnn.Flatten(),
                            tnn.Linear(2, 2, bias=False), tnn.BatchNorm1d(2, affine=False))
    sd = ours.state_dict()
    assert list(sd) == list(theirs.state_dict())
    assert all(not v.requires_grad for v in sd.values())
    assert list(Net().state_dict())[:3] == ["block.alpha", "block.scale", "block.conv.weight"]
    assert "block.cache" not in Net().state_dict()  # non-persistent buffer
    shared = ours.state_dict()["0.weight"]
    assert np.shares_memory(shared.numpy(), ours[0].weight._data)  # a view, as in PyTorch


def test_train_eval_propagate_and_zero_grad() -> None:
    net = Net()
    assert net.training and net.block.bn.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(en.randn(2, 2, 3, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_eval_mode_is_deterministic() -> None:
    net = Net().eval()
    x = en.randn(2, 2, 3, 3)
    np.testing.assert_array_equal(net(x).detach().numpy(), net(x).detach().numpy())


def test_setattr_getattr_delattr() -> None:
    m = nn.Module()
    m.w = nn.Parameter(en.ones(2))
    m.sub = nn.Linear(2, 2)
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and m.plain == 3
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = en.ones(2)
    m.w = None
    assert list(m.parameters()) == list(m.sub.parameters())
    del m.sub
    assert not hasattr(m, "sub")
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        _ = m.nope

    class Early(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_forward_hooks_and_removal() -> None:
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = lin(en.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), lin.bias.detach().numpy()[None] + 1,
                               rtol=1e-6)
    assert calls == [(1, 2)]
    pre.remove(), post.remove(), post.remove()
    np.testing.assert_allclose(lin(en.ones(1, 2)).detach().numpy(),
                               (lin.weight.sum(1) + lin.bias).detach().numpy()[None], rtol=1e-6)


def test_to_dtype_in_place_apply_and_cpu() -> None:
    net = Net()
    params = list(net.parameters())
    assert net.to(en.float64) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == en.float64 for p in net.parameters())
    assert net.block.bn.num_batches_tracked.dtype == en.int64  # integer buffers keep dtype
    assert net.block.bn.running_mean.dtype == en.float64
    net(en.randn(2, 2, 3, 3, dtype=en.float64)).sum().backward()
    net.float()
    assert all(p.dtype == en.float32 and p.grad.dtype == en.float32 for p in net.parameters())
    assert net.cpu() is net and str(params[0].device) == "cpu"
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen[0] == "Conv2d"


def test_containers() -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert seq(en.ones(4, 2)).shape == (4, 1)
    del seq[1]
    assert list(seq._modules) == ["0", "1"]
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    ml.insert(0, nn.ReLU())
    assert len(ml) == 4 and isinstance(ml[0], nn.ReLU)
    assert [n for n, _ in ml.named_parameters()][:2] == ["1.weight", "1.bias"]
    md = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert list(md.state_dict()) == ["a.weight", "a.bias"]
    with pytest.raises(IndexError):
        seq[5]


def test_repr_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    pairs = [
        (nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
         tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2))),
        (nn.Conv2d(4, 8, (3, 2), stride=2, padding=1, dilation=2, groups=2,
                   bias=False),
         tnn.Conv2d(4, 8, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False)),
        (nn.Linear(3, 4), tnn.Linear(3, 4)),
        (nn.Flatten(), tnn.Flatten()),
        (nn.Dropout(0.2), tnn.Dropout(0.2)),
        (nn.LeakyReLU(0.2), tnn.LeakyReLU(0.2)),
        (nn.GELU("tanh"), tnn.GELU("tanh")),
        (nn.Softmax(dim=1), tnn.Softmax(dim=1)),
        (nn.AvgPool2d(2), tnn.AvgPool2d(2)),
        (nn.AdaptiveAvgPool2d((1, 1)), tnn.AdaptiveAvgPool2d((1, 1))),
        (nn.BatchNorm1d(3), tnn.BatchNorm1d(3)),
        (nn.ModuleDict({"a": nn.Identity()}), tnn.ModuleDict({"a": tnn.Identity()})),
        (nn.Unflatten(1, (2, 3)), tnn.Unflatten(1, (2, 3))),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)


def test_ops_on_a_parameter_return_plain_tensors() -> None:
    torch = pytest.importorskip("torch")
    p = nn.Parameter(en.tensor([[1.5, -2.0], [0.0, 3.0]]))
    tp = torch.nn.Parameter(torch.tensor([[1.5, -2.0], [0.0, 3.0]]))
    cases = {
        "eq": lambda t: t == 0, "ne": lambda t: t != 0, "lt": lambda t: t < 0,
        "le": lambda t: t <= 0, "gt": lambda t: t > 0, "ge": lambda t: t >= 0,
        "eq_tensor": lambda t: t == t, "argmax": lambda t: t.argmax(),
        "argmin": lambda t: t.argmin(1),
        "max_dim": lambda t: t.max(1).indices, "all": lambda t: t.all(), "any": lambda t: t.any(),
        "floor_divide": lambda t: t.detach() // 2, "rfloordiv": lambda t: 7 // (t.detach() + 5),
        "invert": lambda t: ~(t > 0), "and": lambda t: (t > 0) & (t < 2),
        "add_scalar": lambda t: t + 1, "mul": lambda t: t * t, "detach": lambda t: t.detach(),
    }
    for name, fn in cases.items():
        ours, theirs = fn(p), fn(tp)
        assert type(theirs) is torch.Tensor, name
        assert type(ours) is en.Tensor, name
        assert not repr(ours).startswith("Parameter"), name
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy(), err_msg=name)
    m = nn.Module()
    m.mask = p > 0  # a plain tensor attribute, not a registered parameter
    assert [n for n, _ in m.named_parameters()] == []
    assert type(p._tensor_like(2.0, np.dtype(np.float32))) is en.Tensor


def test_sequential_insert_negative_index_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    for index in (-3, -2, -1, 0, 1, 2, 3):
        ours = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
        theirs = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.Sigmoid())
        ours.insert(index, nn.Identity())
        theirs.insert(index, torch.nn.Identity())
        assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs], index
        assert list(ours._modules) == list(theirs._modules) == ["0", "1", "2", "3"]
    for index in (-4, 4):
        with pytest.raises(IndexError):
            torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.Sigmoid()).insert(
                index, torch.nn.Identity())
        with pytest.raises(IndexError):
            nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid()).insert(index, nn.Identity())


def test_module_list_insert_has_list_semantics() -> None:
    for index in (-3, -2, -1, 0, 1, 2, 3, 10, -10):
        ours = nn.ModuleList([nn.ReLU(), nn.Tanh(), nn.Sigmoid()])
        expected = [nn.ReLU, nn.Tanh, nn.Sigmoid]
        expected.insert(index, nn.Identity)
        ours.insert(index, nn.Identity())
        assert [type(m) for m in ours] == expected, index
        assert list(ours._modules) == ["0", "1", "2", "3"]


@pytest.mark.parametrize("spec", [en.float64, np.float64, np.dtype("float64"), "tensor"])
def test_module_to_and_tensor_to_accept_the_same_dtypes(spec) -> None:
    if spec == "tensor":
        spec = en.zeros(1, dtype=en.float64)
    lin = nn.Linear(2, 3)
    assert lin.to(spec) is lin and lin.weight.dtype == en.float64 and lin.bias.dtype == en.float64
    assert en.ones(2).to(spec).dtype == en.float64
    assert lin.to("cpu", spec).weight.dtype == en.float64
    assert en.ones(2).to("cpu", spec).dtype == en.float64


def test_to_argument_forms() -> None:
    x = en.ones(2)
    for spec in (np.float16, np.dtype("float16"), en.float16, en.half):
        assert x.to(spec).dtype == en.float16, spec
        assert nn.Linear(2, 2).to(spec).weight.dtype == en.float16, spec
    assert x.to(dtype=np.float64).dtype == en.float64
    assert x.to(device="cpu", dtype=np.dtype("int64")).dtype == en.int64
    assert x.to(en.device("cpu")) is x and x.to("cpu") is x and x.to(dtype=en.float32) is x
    assert x.to(en.device("cpu"), np.int32).dtype == en.int32
    assert x.to("cpu", copy=True) is not x and x.to("cpu", copy=True).tolist() == x.tolist()
    assert nn.Linear(2, 2).to(device=en.device("cpu"), dtype=np.float64).weight.dtype == en.float64
    with pytest.raises(ValueError):
        x.to("gpu")
    with pytest.raises(ValueError):
        nn.Linear(2, 2).to("gpu")
    with pytest.raises(TypeError):
        nn.Linear(2, 2).to(np.int64)  # Module.to casts floating point only, as in PyTorch
    with pytest.raises(TypeError):
        x.to(np.complex64)
    with pytest.raises(TypeError):
        x.to(dtype=en.float32, colour="red")
