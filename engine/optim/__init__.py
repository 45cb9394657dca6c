"""engine.optim: optimizers and learning-rate schedulers (PyTorch's torch.optim)."""

from engine.optim import lr_scheduler
from engine.optim.adagrad import Adagrad
from engine.optim.adam import Adam, AdamW
from engine.optim.optimizer import Optimizer, OptimizerStateError
from engine.optim.rmsprop import RMSprop
from engine.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "OptimizerStateError", "RMSprop",
           "lr_scheduler"]
