"""The compiled CPU kernels (numba) against the NumPy code they replace and against PyTorch:
Adam's fused step, 2x2 max pooling and the ReLU + MaxPool2d fusion in Sequential; bitwise equal
to the NumPy path, and the switch that turns them off."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

import engine as en
from engine import nn, optim
from engine.ops import jit, pool

pytest.importorskip("numba")


@pytest.fixture
def numpy_path() -> Iterator[None]:
    """The NumPy code for one test, the compiled kernels again afterwards."""
    jit.set_enabled(False)
    try:
        yield
    finally:
        jit.set_enabled(True)


def both_paths(run: callable) -> tuple:
    """run() with the kernels, then with the NumPy code."""
    assert jit.kernels() is not None
    compiled = run()
    jit.set_enabled(False)
    try:
        assert jit.kernels() is None
        plain = run()
    finally:
        jit.set_enabled(True)
    return compiled, plain


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.1}, {"maximize": True},
                                     {"weight_decay": 0.1, "decoupled_weight_decay": True}])
def test_adam_compiled_step_is_bitwise_the_numpy_step(dtype: type, options: dict) -> None:
    def run() -> list[np.ndarray]:
        rng = np.random.default_rng(0)
        params = [en.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
                  for s in [(300, 200), (200,), (7, 3, 2)]]
        opt = optim.Adam(params, lr=1e-2, **options)
        for _ in range(5):
            for p in params:
                p.grad = en.tensor(rng.standard_normal(p.shape).astype(dtype))
            opt.step()
        return [p.detach().numpy() for p in params] + [
            opt.state[p][k].numpy() for p in params for k in ("exp_avg", "exp_avg_sq")]

    compiled, plain = both_paths(run)
    for a, b in zip(compiled, plain, strict=True):
        assert a.dtype == dtype and np.array_equal(a, b)
    assert not np.array_equal(compiled[0], np.random.default_rng(0).standard_normal((300, 200)))


def test_adam_kernel_steps_take_each_parameter_they_can_and_leave_the_rest() -> None:
    # One group mixing what the per-parameter kernel calls take (float32 and float64, C order)
    # with what they leave to _update (a transposed array, a read-only gradient, a first step):
    # every parameter must end bitwise where the NumPy updates put it, with its own step count.
    def run() -> tuple[list[np.ndarray], optim.Adam]:
        rng = np.random.default_rng(3)
        arrays = [rng.standard_normal(s).astype(d) for s, d in
                  [((40, 30), np.float32), ((30,), np.float64), ((6, 8), np.float32),
                   ((5,), np.float32)]]
        arrays[2] = np.ascontiguousarray(arrays[2]).T  # a strided leaf, shared by from_numpy
        params = [en.from_numpy(a).requires_grad_() for a in arrays]
        opt = optim.AdamW(params, lr=1e-2, weight_decay=0.05)
        for step in range(4):
            for i, p in enumerate(params):
                g = rng.standard_normal(p.shape).astype(arrays[i].dtype)
                g.flags.writeable = i != 1 or step != 2  # read-only once: _update takes it
                p.grad = None if (i, step) == (3, 1) else en.from_numpy(g)
            opt.step()
        return [p.detach().numpy() for p in params] + [
            opt.state[p][k].numpy() for p in params for k in ("exp_avg", "exp_avg_sq", "step")
        ], opt

    (compiled, opt), (plain, _) = both_paths(run)
    assert not opt._flat  # with the kernels, no flat layout beside the per-parameter calls
    for a, b in zip(compiled, plain, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert [float(opt.state[p]["step"]) for g in opt.param_groups for p in g["params"]] == \
        [4.0, 4.0, 4.0, 3.0]


def test_adam_compiled_step_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    start = rng.standard_normal((50, 40)).astype(np.float32)
    grads = [rng.standard_normal((50, 40)).astype(np.float32) for _ in range(4)]
    ours, theirs = en.tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    opt_ours, opt_theirs = optim.Adam([ours], lr=1e-2), torch.optim.Adam([theirs], lr=1e-2)
    for g in grads:
        ours.grad, theirs.grad = en.tensor(g), torch.tensor(g)
        opt_ours.step()
        opt_theirs.step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-6,
                               atol=1e-7)


def pool_case(shape: tuple, seed: int = 0, nan: bool = False, dtype: type = np.float32):
    rng = np.random.default_rng(seed)
    x = (np.round(rng.standard_normal(shape) * 2) / 2).astype(dtype)  # many ties and zeros
    if nan:
        x.flat[rng.choice(x.size, 5, replace=False)] = np.nan
    g = rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2)).astype(dtype)
    return x, g


def relu_pool_net() -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))


@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (1, 2, 7, 9), (3, 1, 2, 2)])
@pytest.mark.parametrize("fused", [False, True], ids=["pool", "relu+pool"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_2x2_pool_is_bitwise_the_numpy_pool(shape: tuple, fused: bool,
                                                     dtype: type) -> None:
    x, g = pool_case(shape, dtype=dtype)
    net = relu_pool_net() if fused else nn.MaxPool2d(2)

    def run() -> tuple:
        t = en.tensor(x, requires_grad=True)
        out = net(t)
        out.backward(en.tensor(g))
        return out.detach().numpy(), t.grad.numpy()

    (out, grad), (out_plain, grad_plain) = both_paths(run)
    assert out.dtype == dtype and np.array_equal(out, out_plain)
    assert np.array_equal(grad, grad_plain)
    assert (grad != 0).sum() > 0


@pytest.mark.parametrize("nan", [False, True], ids=["ties", "ties+nan"])
@pytest.mark.parametrize("fused", [False, True], ids=["pool", "relu+pool"])
def test_compiled_2x2_pool_matches_torch_with_ties_and_nan(fused: bool, nan: bool) -> None:
    torch = pytest.importorskip("torch")
    x, g = pool_case((2, 3, 8, 7), seed=5, nan=nan)
    t = en.tensor(x, requires_grad=True)
    out = (relu_pool_net() if fused else nn.MaxPool2d(2))(t)
    out.backward(en.tensor(g))
    tt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.max_pool2d(torch.relu(tt) if fused else tt, 2)
    ref.backward(torch.tensor(g))
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    assert np.isnan(out.detach().numpy()).any() == nan


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_branch_free_pool_kernel_is_bitwise_the_branching_one(relu: bool, dtype: type) -> None:
    kernels = jit.kernels()
    if kernels is None:
        pytest.skip("numba is not installed")
    x, _ = pool_case((3, 4, 10, 12), seed=2, dtype=dtype)
    x[x == 0] = np.where(np.random.default_rng(3).random((x == 0).sum()) < 0.5, -0.0, 0.0)
    shape = (3, 4, 5, 6)
    fast = (np.full(shape, 7, dtype), np.full(shape, 9, np.uint8))
    slow = (np.full(shape, 7, dtype), np.full(shape, 9, np.uint8))
    assert not kernels._max_pool_2x2_no_nan(x, relu, *fast)
    kernels._max_pool_2x2_nan(x, relu, *slow)
    assert fast[0].tobytes() == slow[0].tobytes()  # signed zeros too
    assert np.array_equal(fast[1], slow[1]) and set(np.unique(fast[1])) >= {0, 1, 2, 3}
    x[1, 2, 3, 4] = np.nan  # flagged, and the public kernel redoes it with NaN winning
    assert kernels._max_pool_2x2_no_nan(x, relu, *fast)
    kernels.max_pool_2x2(x, relu, *fast)
    kernels._max_pool_2x2_nan(x, relu, *slow)
    assert fast[0].tobytes() == slow[0].tobytes() and np.isnan(fast[0][1, 2, 1, 2])
    assert fast[1][1, 2, 1, 2] == 2 and np.array_equal(fast[1], slow[1])


def test_relu_then_pool_is_one_node_only_where_fusing_is_invisible() -> None:
    x = en.tensor(pool_case((2, 3, 8, 8))[0], requires_grad=True)
    fused = relu_pool_net()(x)
    assert fused.grad_fn.name() == "MaxPool2DWithIndicesBackward0"
    assert fused.grad_fn.next_functions[0][0].variable is x  # no ReLU node between

    seen = []
    hooked = relu_pool_net()
    hooked[0].register_forward_hook(lambda m, i, o: seen.append(o))
    out = hooked(x)
    assert len(seen) == 1 and seen[0].grad_fn.name() == "ReluBackward0"
    assert out.grad_fn.name() == "MaxPool2DWithIndicesBackward0"

    inplace = nn.Sequential(nn.ReLU(inplace=True), nn.MaxPool2d(2))
    y = x * 1
    inplace(y)
    assert (y.detach().numpy() >= 0).all()  # the in-place ReLU still wrote its input

    padded = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, padding=1))
    assert padded(x).grad_fn.next_functions[0][0].name() == "ReluBackward0"


def test_relu_pool_fusion_needs_the_compiled_path(numpy_path: None) -> None:
    x = en.tensor(pool_case((1, 2, 4, 4))[0], requires_grad=True)
    out = relu_pool_net()(x)
    assert out.grad_fn.next_functions[0][0].name() == "ReluBackward0"
    with pytest.raises(RuntimeError, match="relu=True"):
        pool.MaxPool2d.apply(x, kernel=(2, 2), stride=(2, 2), relu=True)


def test_gradwell_jit_0_turns_the_kernels_off() -> None:
    code = ("from engine.ops import jit; import sys; "
            "print(jit.kernels() is None, 'numba' in sys.modules)")
    env = {**os.environ, "GRADWELL_JIT": "0"}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert off.stdout.split() == ["True", "False"]
    env["GRADWELL_JIT"] = "1"
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                        check=True)
    assert on.stdout.split() == ["False", "True"]


def test_importing_engine_does_not_import_numba() -> None:
    code = "import engine, engine.nn, engine.optim, sys; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_cross_entropy_matches_the_numpy_path_and_torch(reduction: str,
                                                                  dtype: type) -> None:
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal((64, 10)) * 4).astype(dtype)
    logits[3, 2] = 80.0  # a large logit: the max shift keeps exp finite
    target = rng.integers(0, 10, 64)

    def run() -> tuple:
        x = en.tensor(logits, requires_grad=True)
        loss = nn.functional.cross_entropy(x, en.tensor(target), reduction=reduction)
        (loss * 3).backward()
        return loss.item(), x.grad.numpy()

    (loss, grad), (loss_plain, grad_plain) = both_paths(run)
    assert grad.dtype == dtype
    np.testing.assert_allclose(loss, loss_plain, rtol=1e-6)
    # exp(logp) - 1 cancels near p = 1: a one-ulp difference in p is ~1e-7 absolute, times 3
    tol = {"rtol": 1e-5, "atol": 1e-6 if dtype == np.float32 else 1e-12}
    np.testing.assert_allclose(grad, grad_plain, **tol)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tx, torch.tensor(target), reduction=reduction)
    (ref * 3).backward()
    np.testing.assert_allclose(loss, ref.item(), rtol=1e-6)
    np.testing.assert_allclose(grad, tx.grad.numpy(), **tol)


def test_compiled_cross_entropy_leaves_ignored_and_bad_targets_to_the_general_path() -> None:
    torch = pytest.importorskip("torch")
    logits = np.random.default_rng(4).standard_normal((6, 4)).astype(np.float32)
    target = np.array([0, 3, -100, 1, -100, 2])
    x = en.tensor(logits, requires_grad=True)
    loss = nn.functional.cross_entropy(x, en.tensor(target))
    loss.backward()
    tx = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tx, torch.tensor(target))
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        nn.functional.cross_entropy(x, en.tensor(np.array([0, 4, 1, 1, 1, 1])))
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):  # checked compiled
        nn.functional.cross_entropy(x, en.tensor(np.array([0, -1, 1, 1, 1, 1])))
    assert jit.kernels().all_classes(np.array([0, 3, 1]), 4)
    assert not jit.kernels().all_classes(np.array([0, 4, 1]), 4)


def test_kernels_compile_at_import_for_their_types_only() -> None:
    kernels = jit.kernels()
    if kernels is None:
        pytest.skip("numba is not installed")
    assert len(kernels.adam_step.signatures) == 2  # float32 and float64, compiled on import
    with pytest.raises(TypeError):  # nothing compiles later, in the middle of a step
        kernels.max_pool_2x2_backward(np.zeros((1, 1, 1, 1), np.int32),
                                      np.zeros((1, 1, 1, 1), np.uint8),
                                      np.zeros((1, 1, 2, 2), np.int32))
    readonly = np.ones((2, 2), np.float32)
    readonly.flags.writeable = False
    assert not jit.plain_float(readonly) and jit.plain_float(np.ones((2, 2), np.float32))
    assert jit.plain_int64(np.arange(3)) and not jit.plain_int64(np.arange(6)[::2])
    assert not jit.plain_int64(np.arange(3, dtype=np.int32))


def test_inputs_the_kernels_do_not_take_give_the_same_results() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    logits = rng.standard_normal((6, 5)).astype(np.float32)
    targets = rng.integers(0, 5, 12)

    def run(readonly: bool) -> list:
        images, z = x.copy(), logits.copy()
        images.flags.writeable = z.flags.writeable = not readonly
        t = en.from_numpy(images).requires_grad_()  # shares the array: read-only reaches the op
        out = relu_pool_net()(t)
        g = np.ones(out.shape, np.float32)
        g.flags.writeable = not readonly
        out.backward(en.from_numpy(g))
        zt = en.from_numpy(z).requires_grad_()
        results = [out.detach().numpy(), t.grad.numpy()]
        for tgt in (targets[::2], targets[:6].astype(np.int32)):  # strided, int32
            loss = nn.functional.cross_entropy(zt, en.from_numpy(tgt))
            loss.backward()
            results += [loss.item(), zt.grad.numpy().copy()]
        return results

    for ours, plain in zip(run(readonly=True), run(readonly=False), strict=True):
        np.testing.assert_array_equal(ours, plain)


def test_ctrl_c_during_the_first_compile_is_delivered_after_it(tmp_path) -> None:
    pytest.importorskip("numba")
    script = (  # a fresh cache: the import compiles for seconds, and Ctrl-C comes meanwhile
        "import os, signal, threading\n"
        "from engine.ops import jit\n"
        "threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "try:\n"
        "    jit.kernels()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted; loaded:', jit.kernels() is not None)\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "GRADWELL_JIT": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "interrupted; loaded: True", result.stderr
    assert "Exception ignored" not in result.stderr
