"""engine.cuda: GPU availability, as torch.cuda."""

from engine.backend import cuda_available, cuda_device_count, synchronize_cuda


def is_available() -> bool:
    """True when CuPy is installed and sees a GPU."""
    return cuda_available()


def device_count() -> int:
    """Number of visible GPUs."""
    return cuda_device_count()


def synchronize() -> None:
    """Wait for queued GPU work (no-op without a GPU)."""
    synchronize_cuda()
