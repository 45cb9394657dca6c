"""Autocast's op lists, as PyTorch's CUDA autocast: which primitive ops run in lower precision,
which in float32, and which promote mixed float inputs to the widest."""

from __future__ import annotations

LOWER, FP32, PROMOTE = "lower", "fp32", "promote"

# (module under engine.ops, class names) per rule. PyTorch lists functions; these are the
# primitive ops those functions run on here (F.linear is Linear, mm/bmm/mv/@ are MatMul, ...).
_LISTS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    LOWER: (
        ("linear", ("Linear",)),
        ("matmul", ("MatMul", "Einsum")),  # einsum runs on bmm in PyTorch, itself lower
        ("conv", ("Conv2d",)),
        ("activation", ("Prelu",)),
        ("rnn", ("RNNSequence", "LSTMSequence", "GRUSequence")),  # the cells' recurrent GEMMs
    ),
    FP32: (
        ("softmax", ("Softmax", "LogSoftmax")),
        ("loss", ("CrossEntropy", "NLLLoss", "BCEWithLogits")),
        # binary_cross_entropy: PyTorch's CUDA autocast refuses it, its CPU autocast runs it in
        # float32; float32 here (one rule for both devices).
        ("loss_pointwise", ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
                            "BinaryCrossEntropy", "KLDivLoss")),
        ("norm", ("LayerNorm",)),  # layer_norm and group_norm
        ("reduce", ("Sum", "Prod", "VectorNorm")),
        ("scan", ("CumSum", "CumProd")),
        ("elementwise", ("Exp", "Log", "PowScalar", "Pow")),
        ("unary_math", ("Log1p", "Expm1", "Log2", "Log10", "Rsqrt", "Reciprocal", "Sinh", "Cosh",
                        "Tan", "Asin", "Acos", "Erfinv")),
        ("activation", ("Softplus",)),
    ),
    PROMOTE: (
        ("elementwise", ("Add", "Sub", "Mul", "Div", "Maximum", "Minimum", "Where")),
        ("unary_math", ("Atan2", "Hypot")),
        ("movement", ("Cat", "Stack")),
        ("norm", ("BatchNorm",)),  # float16 activations with float32 weight and bias
    ),
}

_rules: dict[type, str] = {}


def rules() -> dict[type, str]:
    """{op class: rule}, built on first use (importing the op modules only then)."""
    if not _rules:
        import importlib

        for rule, groups in _LISTS.items():
            for module, names in groups:
                mod = importlib.import_module(f"engine.ops.{module}")
                for name in names:
                    _rules[getattr(mod, name)] = rule
    return _rules


def op_names(rule: str) -> list[str]:
    """The class names of the ops under rule (for documentation and tests)."""
    return [name for _, names in _LISTS[rule] for name in names]
