"""engine.nn: modules, layers, losses and initialisers (PyTorch's torch.nn)."""

from engine.nn import functional, init, utils
from engine.nn.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)
from engine.nn.container import ModuleDict, ModuleList, Sequential
from engine.nn.container_params import ParameterDict, ParameterList
from engine.nn.conv import Conv2d
from engine.nn.distance import CosineSimilarity, PairwiseDistance
from engine.nn.dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from engine.nn.linear import Flatten, Identity, Linear, Unflatten
from engine.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from engine.nn.module import Module
from engine.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from engine.nn.parameter import Parameter
from engine.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from engine.nn.sparse import Embedding

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d",
    "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten", "GELU", "Identity", "L1Loss",
    "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleDict",
    "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh",
    "Unflatten", "functional", "init", "utils",
]
__all__ += [
    "BCELoss", "CosineEmbeddingLoss", "HuberLoss", "KLDivLoss", "MarginRankingLoss",
    "SmoothL1Loss",
]
__all__ += [
    "CELU", "ELU", "GLU", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid", "Mish", "PReLU",
    "ReLU6", "SELU", "SiLU", "Softmin", "Softplus", "Softsign", "Tanhshrink", "Threshold",
]
__all__ += ["Dropout1d", "Dropout2d", "Dropout3d", "Embedding", "GroupNorm", "LayerNorm"]
__all__ += ["ParameterDict", "ParameterList"]
__all__ += ["CosineSimilarity", "Hardshrink", "PairwiseDistance", "Softshrink"]
