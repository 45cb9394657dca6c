"""Acceptance 1 and tensor printing: the text equals PyTorch's with 'torch.' -> 'engine.'."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import engine as en

try:
    import torch
except ImportError:  # the literal expectations below still run
    torch = None

SNIPPET = """
x = lib.tensor(3.0, requires_grad=True)
y = x**2 + 2*x + 1
y.backward()
print(x.grad)  # 8.0
x = lib.tensor([[1, 2], [3, 4]], dtype=lib.float32)
if lib.cuda.is_available():
    x = x.to('cuda')
print(x)
"""


def _run_snippet(lib) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(SNIPPET, {"lib": lib})  # noqa: S102 - the issue's snippet, verbatim but the import
    return out.getvalue()


def test_acceptance_snippet_prints_what_pytorch_prints() -> None:
    ours = _run_snippet(en)
    device = ", device='cuda:0'" if en.cuda.is_available() else ""
    assert ours == f"tensor(8.)\ntensor([[1., 2.],\n        [3., 4.]]{device})\n"
    if torch is not None and not en.cuda.is_available():
        assert ours == _run_snippet(torch).replace("torch.", "engine.")


# Each case is built the same way in both libraries; `lib` is engine or torch.
CASES = {
    "scalar": lambda lib: lib.tensor(-2.5),
    "non_integral": lambda lib: lib.tensor([1.5, 2.25, -3.125]),
    "sci_small": lambda lib: lib.tensor([1e-5, 3.0]),
    "sci_large": lambda lib: lib.tensor([1e10, 1.0]),
    "sci_integral_range": lambda lib: lib.arange(2000.0).reshape(40, 50),
    "int": lambda lib: lib.tensor([1, 2, -30]),
    "int32": lambda lib: lib.tensor([[1, 2], [3, 4]], dtype=lib.int32),
    "bool": lambda lib: lib.tensor([True, False]),
    "requires_grad": lambda lib: lib.tensor([1.0, 2.0], requires_grad=True),
    "grad_fn_mul": lambda lib: lib.tensor([2.0], requires_grad=True) * 2,
    "float64": lambda lib: lib.tensor([1.0, 2.5], dtype=lib.float64),
    "float16": lambda lib: lib.tensor([1.0, 2.5], dtype=lib.float16),
    "summarised_float": lambda lib: lib.arange(1500.0) / 7,
    "summarised_int": lambda lib: lib.arange(2000, dtype=lib.int32).reshape(2, 1000),
    "summarised_3d": lambda lib: lib.arange(3000.0).reshape(10, 10, 30),
    "nan_inf": lambda lib: lib.tensor([float("nan"), float("inf"), -float("inf"), 1.5]),
    "neg_zero": lambda lib: lib.tensor([0.0, -0.0, 1.0]),
    "empty": lambda lib: lib.zeros(0, 3),
    "empty_int": lambda lib: lib.zeros(0, dtype=lib.int64),
    "nested": lambda lib: lib.arange(30.0).reshape(2, 3, 5) / 3,
    "long_row_wraps": lambda lib: lib.arange(16.0, dtype=lib.float64) / 3,
    "max_with_dim": lambda lib: lib.tensor([[1.0, 3.0], [2.0, 0.0]]).max(dim=1),
    "min_with_dim": lambda lib: lib.tensor([[1, 3], [2, 0]]).min(-1),
    "suffix_wraps": lambda lib: (lib.arange(10.0, dtype=lib.float64).reshape(2, 5) / 3
                                 ).requires_grad_() * 1,
}

EXPECTED = {  # PyTorch 2.x's text, for machines without torch
    "scalar": "tensor(-2.5000)",
    "non_integral": "tensor([ 1.5000,  2.2500, -3.1250])",
    "int": "tensor([  1,   2, -30])",
    "bool": "tensor([ True, False])",
    "requires_grad": "tensor([1., 2.], requires_grad=True)",
    "grad_fn_mul": "tensor([4.], grad_fn=<MulBackward0>)",
    "float64": "tensor([1.0000, 2.5000], dtype=engine.float64)",
    "empty": "tensor([], size=(0, 3))",
    "neg_zero": "tensor([0., -0., 1.])",
}


@pytest.mark.parametrize("name", list(CASES))
def test_print_matches_pytorch(name: str) -> None:
    ours = str(CASES[name](en))
    assert repr(CASES[name](en)) == ours
    if torch is not None:
        assert ours == str(CASES[name](torch)).replace("torch.", "engine.")
    elif name in EXPECTED:
        assert ours == EXPECTED[name]


def test_print_random_values_match_pytorch() -> None:
    if torch is None:
        pytest.skip("needs torch as the oracle")
    values = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    assert str(en.tensor(values)) == str(torch.tensor(values))
    assert str(en.tensor(values * 1e-6)) == str(torch.tensor(values * 1e-6))


def test_device_and_dtype_reprs() -> None:
    assert repr(en.float32) == "engine.float32" and str(en.int64) == "engine.int64"
    assert str(en.tensor([1.0]).device) == "cpu"
    assert repr(en.device("cuda:1")) == "device(type='cuda', index=1)"
    assert en.device("cuda") == "cuda:0" and en.device("cpu") == "cpu"


def test_parameter_prints_like_torch() -> None:
    text = "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert str(en.nn.Parameter(en.ones(2))) == text == repr(en.nn.Parameter(en.ones(2)))
    if torch is not None:
        assert str(torch.nn.Parameter(torch.ones(2))) == text
