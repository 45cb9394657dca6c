"""Data pipeline: IDX files, MNIST-family datasets, samplers, transforms and the DataLoader.

Usage mirrors torchvision and torch.utils.data::

    from datasets import MNIST, DataLoader, transforms as T
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    loader = DataLoader(MNIST("data", transform=tf), batch_size=64, shuffle=True, num_workers=0)
"""

from engine.errors import DataError

# The generic loader lives in engine.utils.data (torch.utils.data's role); it is re-exported
# here so `from datasets import MNIST, DataLoader` keeps working.
from engine.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
    random_split,
)

from . import transforms
from .dataset import IDXDataset
from .download import check_digest, download_file
from .folder import IDXFolder, channel_stats
from .idx import check_idx_file, idx_header, read_header, read_idx, write_idx
from .mnist import KMNIST, MNIST, FashionMNIST
from .synthetic import make_synthetic_idx

__all__ = [
    "KMNIST", "MNIST", "BatchSampler", "ConcatDataset", "DataError", "DataLoader", "Dataset",
    "DistributedSampler", "FashionMNIST", "IDXDataset", "IDXFolder", "IterableDataset",
    "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
    "TensorDataset", "WeightedRandomSampler", "channel_stats", "check_digest", "check_idx_file",
    "default_collate", "download_file", "get_worker_info", "idx_header", "make_synthetic_idx",
    "random_split", "read_header", "read_idx", "transforms", "write_idx",
]
