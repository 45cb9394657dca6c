"""engine.nn: modules, layers, losses and initialisers (PyTorch's torch.nn)."""

from engine.nn import functional, init, utils
from engine.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from engine.nn.container import ModuleDict, ModuleList, Sequential
from engine.nn.conv import Conv2d
from engine.nn.dropout import Dropout
from engine.nn.linear import Flatten, Identity, Linear, Unflatten
from engine.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from engine.nn.module import Module
from engine.nn.normalization import BatchNorm1d, BatchNorm2d
from engine.nn.parameter import Parameter
from engine.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from engine.nn.rnn import GRU, LSTM, RNN, RNNBase
from engine.nn.rnn_cells import GRUCell, LSTMCell, RNNCell, RNNCellBase

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d",
    "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten", "GELU", "Identity", "L1Loss",
    "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleDict",
    "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh",
    "Unflatten", "functional", "init", "utils",
    "GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase",
]
