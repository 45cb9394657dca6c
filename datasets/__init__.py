"""Data pipeline: IDX files, MNIST-family datasets, samplers, transforms and the DataLoader.

Usage mirrors torchvision and torch.utils.data::

    from datasets import MNIST, DataLoader, transforms as T
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    loader = DataLoader(MNIST("data", transform=tf), batch_size=64, shuffle=True, seed=0)
"""

from engine.errors import DataError

from . import transforms
from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, IDXDataset, Subset, TensorDataset, random_split
from .download import check_digest, download_file
from .idx import idx_header, read_header, read_idx, write_idx
from .mnist import KMNIST, MNIST, FashionMNIST
from .sampler import (
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
)
from .synthetic import make_synthetic_idx

__all__ = [
    "KMNIST", "MNIST", "ConcatDataset", "DataError", "DataLoader", "Dataset",
    "DistributedSampler", "FashionMNIST", "IDXDataset", "RandomSampler", "Sampler",
    "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset", "check_digest",
    "default_collate", "download_file", "idx_header", "make_synthetic_idx", "random_split",
    "read_header", "read_idx", "transforms", "write_idx",
]
