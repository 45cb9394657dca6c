"""Embedding, LayerNorm, GroupNorm, channel-wise dropout, normalize and distances vs PyTorch and
float64 gradcheck; module reprs, initialisation and errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_op

import engine as en
import engine.nn.functional as F
from engine import nn

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = TF = None

IDX = np.array([[0, 2, 4, 2], [1, 4, 4, 3]])


def _lib(x: object) -> object:
    return F if isinstance(x, en.Tensor) else TF


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 4}, {"padding_idx": -1},
                                {"scale_grad_by_freq": True},
                                {"padding_idx": 2, "scale_grad_by_freq": True}], ids=str)
def test_embedding(kw: dict, backend: str) -> None:
    # A zero padding row and frequency-scaled rows are by definition not the derivative: no
    # gradcheck there (PyTorch's values still are compared, and the zero row is checked below).
    check_op([IDX, (5, 3)], device=backend, gradcheck=not kw,
             engine_fn=lambda i, w: _lib(w).embedding(i, w, **kw))


def test_embedding_max_norm_renormalises_looked_up_rows_in_place(backend: str) -> None:
    torch_ = pytest.importorskip("torch")
    w = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32) * 2
    for norm_type in (2.0, 1.0):
        ours, theirs = en.tensor(w.copy(), device=backend, requires_grad=True), \
            torch_.tensor(w.copy(), requires_grad=True)
        idx = np.array([0, 3, 3, 5])
        oe = F.embedding(en.tensor(idx, device=backend), ours, max_norm=1.5, norm_type=norm_type)
        ot = TF.embedding(torch_.tensor(idx), theirs, max_norm=1.5, norm_type=norm_type)
        np.testing.assert_allclose(oe.detach().cpu().numpy(), ot.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(ours.detach().cpu().numpy(), theirs.detach().numpy(),
                                   rtol=1e-6)
        assert ours._version == 1  # the weight changed in place
        np.testing.assert_array_equal(ours.detach().cpu().numpy()[[1, 2, 4]], w[[1, 2, 4]])


def test_embedding_errors() -> None:
    w = en.randn(5, 3)
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(en.tensor([5]), w)
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(en.tensor([-1]), w)
    with pytest.raises(RuntimeError, match="'indices' to have one of the following scalar types"):
        F.embedding(en.tensor([1.0]), w)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(5, 3, padding_idx=5)
    with pytest.raises(AssertionError, match="expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(en.randn(5))


def test_embedding_module_init_padding_and_from_pretrained() -> None:
    emb = nn.Embedding(50, 8, padding_idx=-2)
    assert emb.padding_idx == 48 and repr(emb) == "Embedding(50, 8, padding_idx=48)"
    w = emb.weight.detach().numpy()
    assert not w[48].any() and abs(w.std() - 1) < 0.2  # N(0, 1) init, padding row zero
    out = emb(en.tensor([[48, 3]]))
    assert out.shape == (1, 2, 8)
    out.sum().backward()
    assert not emb.weight.grad.numpy()[48].any() and (emb.weight.grad.numpy()[3] == 1).all()
    table = en.randn(4, 2)
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad and frozen.weight._data is table._data
    np.testing.assert_array_equal(frozen(en.tensor([2])).numpy(), table.numpy()[[2]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    if torch is not None:
        for args, kw in [((10, 3), {"max_norm": 1.0, "norm_type": 1.0}),
                         ((10, 3), {"scale_grad_by_freq": True}), ((7, 2), {})]:
            assert repr(nn.Embedding(*args, **kw)) == repr(torch.nn.Embedding(*args, **kw))


LN_CASES = [((4, 5), 5, {}), ((2, 3, 4), (3, 4), {}), ((2, 3, 4), 4, {"bias": False}),
            ((2, 3, 4), [4], {"affine": False}), ((3, 6), 6, {"eps": 1e-2})]


@pytest.mark.parametrize("case", LN_CASES, ids=str)
def test_layer_norm(case: tuple, backend: str) -> None:
    shape, normalized, kw = case
    norm_shape = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    affine, bias = kw.get("affine", True), kw.get("bias", True)
    spec = [shape] + ([norm_shape] if affine else []) + ([norm_shape] if affine and bias else [])

    def fn(x: object, *params: object) -> object:
        w = params[0] if params else None
        b = params[1] if len(params) > 1 else None
        # ours also takes an int, as the module does; torch's functional wants a sequence
        shape_arg = normalized if isinstance(x, en.Tensor) else norm_shape
        return _lib(x).layer_norm(x, shape_arg, w, b, eps=kw.get("eps", 1e-5))

    check_op(spec, engine_fn=fn, device=backend)


@pytest.mark.parametrize("shape,groups,affine", [((2, 6, 3), 3, True), ((2, 4, 2, 3), 2, True),
                                                 ((3, 4), 4, False), ((2, 6, 5), 1, True)])
def test_group_norm(shape: tuple, groups: int, affine: bool, backend: str) -> None:
    c = shape[1]
    spec = [shape, (c,), (c,)] if affine else [shape]
    check_op(spec, device=backend,
             engine_fn=lambda x, *wb: _lib(x).group_norm(x, groups, *wb))


def test_norm_errors() -> None:
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with "
                                           r"shape \[\*, 4\], but got input of size\[2, 3\]"):
        F.layer_norm(en.randn(2, 3), 4)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(en.randn(2, 6, 4), 4)
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        F.group_norm(en.randn(1, 3), 3)


# lead: how many leading dims index a channel (2 for (N, C, ...), 1 for unbatched (C, ...)).
@pytest.mark.parametrize("name,shape,lead", [
    ("dropout1d", (4, 6, 5), 2), ("dropout1d", (6, 5), 1), ("dropout2d", (3, 5, 2, 2), 2),
    ("dropout3d", (2, 4, 2, 2, 2), 2), ("dropout3d", (8, 2, 2, 2), 1)])
def test_channel_dropout_drops_whole_channels(name: str, shape: tuple, lead: int,
                                              backend: str) -> None:
    x = en.ones(*shape, device=backend, requires_grad=True)
    out = getattr(F, name)(x, p=0.4)
    vals = out.detach().cpu().numpy()
    per_channel = vals.reshape(int(np.prod(shape[:lead])), -1)
    # every channel is all zeros or all 1 / (1 - p), and both kinds occur
    assert np.all(per_channel == per_channel[:, :1])
    first = per_channel[:, 0]
    assert np.all(np.isclose(first, 0.0) | np.isclose(first, 1 / 0.6))
    assert np.isclose(first, 0.0).any() and np.isclose(first, 1 / 0.6).any()
    out.backward(en.ones(*shape, device=backend) * 2)
    np.testing.assert_allclose(x.grad.cpu().numpy(), vals * 2)
    assert getattr(F, name)(x, 0.4, training=False) is x


def test_channel_dropout_modules_and_errors() -> None:
    layer = nn.Dropout2d(0.3)
    assert repr(layer) == "Dropout2d(p=0.3, inplace=False)"
    assert repr(nn.Dropout(0.1, inplace=True)) == "Dropout(p=0.1, inplace=True)"
    x = en.randn(2, 3, 4, 4)
    assert layer.eval()(x) is x
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(en.randn(2, 3, 4, 5))
    with pytest.warns(UserWarning, match="assuming that channel-wise 1D dropout"):
        F.dropout2d(en.randn(2, 3, 4))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout1d(1.5)
    assert (F.dropout2d(en.ones(2, 3, 2, 2), p=1.0).numpy() == 0).all()


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize(p: float, dim: int, backend: str) -> None:
    check_op([(3, 4)], device=backend,
             engine_fn=lambda x: _lib(x).normalize(x, p=p, dim=dim))


def test_normalize_zero_vector_has_zero_gradient() -> None:
    x = en.zeros(2, 3, requires_grad=True)
    F.normalize(x).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("shapes,dim", [(((4, 5), (4, 5)), 1), (((3, 4, 2), (3, 4, 2)), -1),
                                        (((4, 5), (1, 5)), 1), (((6,), (6,)), 0)])
def test_cosine_similarity(shapes: tuple, dim: int, backend: str) -> None:
    check_op(list(shapes), device=backend,
             engine_fn=lambda a, b: _lib(a).cosine_similarity(a, b, dim=dim))


@pytest.mark.parametrize("p,keepdim", [(2.0, False), (1.0, True), (3.0, False)])
def test_pairwise_distance(p: float, keepdim: bool, backend: str) -> None:
    check_op([(4, 5), (4, 5)], device=backend,
             engine_fn=lambda a, b: _lib(a).pairwise_distance(a, b, p=p, keepdim=keepdim))


def test_distance_modules() -> None:
    a, b = en.randn(3, 4), en.randn(3, 4)
    assert nn.CosineSimilarity(dim=0)(a, b).shape == (4,)
    np.testing.assert_allclose(nn.CosineSimilarity()(a, a).numpy(), np.ones(3), rtol=1e-6)
    np.testing.assert_allclose(nn.PairwiseDistance(keepdim=True)(a, b).numpy(),
                               F.pairwise_distance(a, b, keepdim=True).numpy())
    zero = en.zeros(2, 3, requires_grad=True)
    F.cosine_similarity(zero, en.ones(2, 3)).sum().backward()
    assert np.isfinite(zero.grad.numpy()).all()
    if torch is not None:
        assert repr(nn.CosineSimilarity(0)) == repr(torch.nn.CosineSimilarity(0))
        assert repr(nn.PairwiseDistance(1.0)) == repr(torch.nn.PairwiseDistance(1.0))
