"""The public autograd.Function (ctx protocol) against PyTorch's on the same custom ops."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en

try:
    import torch
except ImportError:
    torch = None


def _libs():
    return [en] + ([torch] if torch is not None else [])


def _scaled_mul(lib):
    class ScaledMul(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k, y):
            ctx.save_for_backward(x, y)
            ctx.k = k  # arbitrary attributes live on ctx
            ctx.needs = ctx.needs_input_grad
            return x * y * k, x + y

        @staticmethod
        def backward(ctx, g_prod, g_sum):
            x, y = ctx.saved_tensors
            return g_prod * y * ctx.k + g_sum, None, g_prod * x * ctx.k + g_sum

    return ScaledMul


def test_multiple_outputs_non_tensor_arg_and_names():
    results = []
    for lib in _libs():
        fn = _scaled_mul(lib)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = lib.tensor([3.0, 4.0], requires_grad=True)
        prod, total = fn.apply(x, 2.0, y)
        assert prod.grad_fn.name() == "ScaledMulBackward"
        assert type(prod.grad_fn).__name__ == "ScaledMulBackward"
        assert repr(prod) == "tensor([ 6., 16.], grad_fn=<ScaledMulBackward>)"
        pairs = prod.grad_fn.next_functions
        assert [p[1] for p in pairs] == [0, 0] and pairs[0][0] is not None
        assert [type(n).__name__ for n, _ in pairs] == ["AccumulateGrad", "AccumulateGrad"]
        (prod.sum() + 3 * total.sum()).backward()
        results.append((x.grad.tolist(), y.grad.tolist()))
    assert results[0] == ([9.0, 11.0], [5.0, 7.0])
    assert len(set(map(str, results))) == 1


def test_needs_input_grad_and_only_one_output_used():
    for lib in _libs():
        fn = _scaled_mul(lib)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = lib.tensor([3.0, 4.0])
        prod, _ = fn.apply(x, 2.0, y)
        assert prod.grad_fn is not None
        prod.sum().backward()  # the second output got no gradient: backward sees zeros
        assert x.grad.tolist() == [6.0, 8.0] and y.grad is None


def test_gradcheck_on_custom_function():
    class Cube(en.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = en.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    assert en.autograd.gradcheck(Cube.apply, (x,))


def test_modified_saved_tensor_raises_pytorchs_error():
    for lib in _libs():
        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 1
        out = Square.apply(b)
        with lib.no_grad():
            b.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_second_backward_without_retain_graph():
    for lib in _libs():
        class Twice(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return 2 * x

            @staticmethod
            def backward(ctx, g):
                ctx.saved_tensors  # noqa: B018 - touching freed saved tensors raises
                return 2 * g

        x = lib.tensor([1.0], requires_grad=True)
        y = Twice.apply(x).sum()
        y.backward(retain_graph=True)
        y.backward()
        assert x.grad.tolist() == [4.0]
        z = Twice.apply(x).sum()
        z.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            z.backward()


def test_mark_non_differentiable():
    for lib in _libs():
        class SortValues(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                values = x * 2
                index = (x > 0).long()
                ctx.mark_non_differentiable(index)
                return values, index

            @staticmethod
            def backward(ctx, g, g_index):
                return 2 * g

        x = lib.tensor([1.0, -1.0], requires_grad=True)
        values, index = SortValues.apply(x)
        assert values.requires_grad and not index.requires_grad
        values.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]


def test_mark_dirty_in_place_function():
    for lib in _libs():
        class AddOneInPlace(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.add_(1)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g

        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 3
        out = AddOneInPlace.apply(b)
        assert out is b and b.grad_fn.name() == "AddOneInPlaceBackward"
        assert b.tolist() == [4.0, 7.0]
        out.sum().backward()
        assert a.grad.tolist() == [3.0, 3.0]
        leaf = lib.tensor([1.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            AddOneInPlace.apply(leaf)


def test_set_materialize_grads_false_gives_none():
    seen = []
    for lib in _libs():

        class Pair(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x * 1, x * 2

            @staticmethod
            def backward(ctx, g1, g2):
                seen.append(g2 is None)
                return g1 if g2 is None else g1 + 2 * g2

        x = lib.tensor([1.0], requires_grad=True)
        first, _ = Pair.apply(x)
        first.sum().backward()
        assert x.grad.tolist() == [1.0]
    assert seen and all(seen)


def test_setup_context_style():
    for lib in _libs():
        class Mul(lib.autograd.Function):
            @staticmethod
            def forward(x, y):
                return x * y

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(*inputs)

            @staticmethod
            def backward(ctx, g):
                x, y = ctx.saved_tensors
                return g * y, g * x

        x = lib.tensor([2.0], requires_grad=True)
        y = lib.tensor([5.0], requires_grad=True)
        Mul.apply(x, y).sum().backward()
        assert (x.grad.tolist(), y.grad.tolist()) == ([5.0], [2.0])


def test_wrong_number_of_gradients_and_bad_shape():
    class TooFew(en.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    class BadShape(en.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return en.ones(3)

    x = en.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"returned an incorrect number of gradients "
                                           r"\(expected 2, got 1\)"):
        TooFew.apply(x, x).sum().backward()
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0 - got \[3\] but "
                                           r"expected shape compatible with \[2\]"):
        BadShape.apply(x).backward()
    if torch is not None:
        class TorchTooFew(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x + y

            @staticmethod
            def backward(ctx, g):
                return g

        tx = torch.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 2, "
                                               r"got 1\)"):
            TorchTooFew.apply(tx, tx).sum().backward()


def test_apply_under_no_grad_and_input_returned_as_is():
    class Identity(en.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = en.ones(2, requires_grad=True)
    with en.no_grad():
        assert Identity.apply(x).grad_fn is None
    y = Identity.apply(x)
    assert y is not x and x.is_leaf and y.grad_fn.name() == "IdentityBackward"
    (y * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_custom_function_on_gpu(backend):
    class Double(en.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = en.ones(3, device=backend, requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.device == backend and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_save_for_backward_refuses_non_tensors():
    for lib in _libs():
        class Bad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x * 1

            @staticmethod
            def backward(ctx, g):
                return g

        with pytest.raises(TypeError, match="save_for_backward can only save variables, but "
                                            "argument 1 is of type int"):
            Bad.apply(lib.ones(1, requires_grad=True))


def test_gradcheck_accepts_torch_keywords():
    x = en.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert en.autograd.gradcheck(lambda t: t * t, (x,), check_undefined_grad=False,
                                 nondet_tol=0.0, fast_mode=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        en.autograd.gradcheck(lambda t: t * t, (x,), bogus=1)


def test_saved_output_makes_no_reference_cycle():
    import gc
    import weakref

    class Exp(en.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * out

    x = en.tensor([0.0, 1.0], requires_grad=True)
    gc.disable()
    try:
        y = Exp.apply(x)
        alive = weakref.ref(y)
        del y
        assert alive() is None  # freed by reference counting alone
    finally:
        gc.enable()
    y = Exp.apply(x)
    z = y * 2
    del y  # the saved output outlives the tensor object
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([0.0, 1.0]), rtol=1e-6)
    y = Exp.apply(x)
    with en.no_grad():
        y.mul_(2)  # the saved alias shares y's version counter
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
