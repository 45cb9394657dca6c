#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU, CuPy and PyTorch CUDA installed.
# Usage: bash tests/benchmarks/gpu_check.sh [LOG_DIR]    (about 5 minutes on an H100/H200)
#
# 1. pytest -m gpu: every backend-parametrised test on the real device (CPU vs GPU parity).
# 2. bench_gpu.py: MLP and SmallCNN epochs on the GPU against PyTorch CUDA eager, fp32 and AMP,
#    batch 64 and 256.
# 3. A short `trainer train configs/fashion_mnist_cnn.yaml --device cuda` (synthetic IDX files of
#    the same shape when Fashion-MNIST is not installed), then eval, export and predict of that
#    GPU-trained run on the CPU.
# Each step has its own time limit; the summary at the end lists each step's exit status, and the
# script exits non-zero when any step failed. Logs go to LOG_DIR (default: a new temp folder).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
LOG_DIR="${1:-$(mktemp -d)}"
mkdir -p "$LOG_DIR"
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
TRAINER=("$PY" -c "from trainer.cli import main; main()")
EPOCH_FRACTION="${EPOCH_FRACTION:-0.5}"
declare -a SUMMARY=()

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, record the exit status
    local name="$1" limit="$2"
    shift 2
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG_DIR/$name.log"
    local rc=${PIPESTATUS[0]}
    SUMMARY+=("$name: exit $rc in $((SECONDS - start))s")
    return 0
}

{
    nvidia-smi -L || true
    "$PY" -c "import sys, numpy, cupy; print('python', sys.version.split()[0], 'numpy',
numpy.__version__, 'cupy', cupy.__version__, 'GPUs', cupy.cuda.runtime.getDeviceCount())"
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
        || echo "torch: not importable (the benchmark times ours alone)"
} 2>&1 | tee "$LOG_DIR/versions.log"
if ! "$PY" -c "import cupy, sys; sys.exit(cupy.cuda.runtime.getDeviceCount() < 1)"; then
    echo "gpu_check: no GPU visible to CuPy; nothing to check here" >&2
    exit 2
fi

step pytest_gpu 300 "$PY" -m pytest -q -m gpu -p no:cacheprovider -o addopts="" tests
step bench_gpu 300 "$PY" tests/benchmarks/bench_gpu.py --repeats 3 \
    --epoch-fraction "$EPOCH_FRACTION"

# Fashion-MNIST when installed, else synthetic IDX files of its shape (learnable: class-coloured).
DATA="$(mktemp -d)"
"$PY" - "$DATA" <<'EOF'
import sys
from pathlib import Path

import numpy as np

from datasets.idx import write_idx

system = Path("/usr/share/datasets/fashion-mnist")
if (system / "train-images-idx3-ubyte.gz").exists() or (system / "train-images-idx3-ubyte").exists():
    print("data: Fashion-MNIST from", system)
    sys.exit(0)
raw = Path(sys.argv[1]) / "FashionMNIST" / "raw"
raw.mkdir(parents=True)
rng = np.random.default_rng(0)
for split, n in (("train", 60000), ("t10k", 10000)):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    noise = rng.integers(0, 128, (n, 28, 28))
    images = (noise + labels[:, None, None] * 12).clip(0, 255).astype(np.uint8)
    write_idx(raw / f"{split}-images-idx3-ubyte", images)
    write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
print("data: synthetic Fashion-MNIST-shaped IDX files in", raw)
EOF
RUN="$DATA/run"
step train_cuda 240 "${TRAINER[@]}" train configs/fashion_mnist_cnn.yaml --device cuda \
    --run-dir "$RUN" --progress log train.epochs=1 data.root="$DATA" data.download=false
step eval_cpu 120 "${TRAINER[@]}" eval "$RUN" device=cpu data.root="$DATA" data.download=false
step export_script 120 "${TRAINER[@]}" export "$RUN" --format script --out "$DATA/model.safetensors"
IMAGES="$DATA/FashionMNIST/raw/t10k-images-idx3-ubyte"
[ -e "$IMAGES" ] || IMAGES=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
LABELS="${IMAGES/images-idx3/labels-idx1}"
step predict_cpu 120 "${TRAINER[@]}" predict "$DATA/model.safetensors" "$IMAGES" --labels "$LABELS" \
    --out "$DATA/predictions.csv"
cp "$RUN/metrics.csv" "$LOG_DIR/train_cuda_metrics.csv" 2>/dev/null || true

echo "== summary"
printf '%s\n' "${SUMMARY[@]}" | tee "$LOG_DIR/summary.log"
! grep -qv ": exit 0 in" "$LOG_DIR/summary.log"
