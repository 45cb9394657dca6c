"""Data-parallel throughput: samples/s of 1 vs 2 ranks on the zoo's MLP and SmallCNN, and the time
the gradient all-reduce takes per step.

    python tests/benchmarks/bench_distributed.py [--repeats 3] [--batch 64] [--ranks 1 2]

Each measurement is its own `mpiexec -n N` job with one BLAS thread per rank (OMP_NUM_THREADS=1
and friends), so N ranks use N cores. The batch is per rank (as data.batch_size is in the
trainer): N ranks train on N x batch images a step, and scaling is samples/s over one rank's.
Steps are forward, backward (which averages the gradients: DistributedDataParallel), Adam step on
fixed random images, after a warm-up; the figures are medians over the repeats. The all-reduce
time is the averaging's wall time on rank 0, so it includes waiting for the slower rank.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = {"mlp": 300, "cnn": 40}
WARMUP = 5


def worker(model_name: str, batch: int, steps: int) -> None:
    """One rank: time steps of DDP training; rank 0 prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    import engine
    import engine.distributed as dist
    import engine.nn.functional as F
    from engine.nn.parallel import DistributedDataParallel
    from trainer.zoo import MLP, SmallCNN

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    engine.manual_seed(0)
    model = DistributedDataParallel(MLP() if model_name == "mlp" else SmallCNN())
    optimizer = engine.optim.Adam(model.parameters(), lr=1e-3)
    engine.manual_seed(1 + rank)
    images, labels = engine.randn(batch, 1, 28, 28), engine.randint(0, 10, (batch,))
    reduce_times = []
    for step in range(WARMUP + steps):
        if step == WARMUP:
            dist.barrier()
            start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        if step >= WARMUP:
            reduce_times.append(model.last_reduce_seconds)
    dist.barrier()  # the slowest rank decides the job's time
    elapsed = time.perf_counter() - start
    if rank == 0:
        print(json.dumps({"samples_per_s": world * batch * steps / elapsed,
                          "step_ms": 1e3 * elapsed / steps,
                          "allreduce_ms": 1e3 * statistics.median(reduce_times)}), flush=True)


def run(model: str, ranks: int, batch: int) -> dict:
    """One mpiexec job; its rank 0's figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "MV2_"))}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))
    mpiexec = Path(sys.executable).parent / "mpiexec"
    cmd = [str(mpiexec if mpiexec.is_file() else "mpiexec"), "-n", str(ranks), sys.executable,
           __file__, "--worker", model, "--batch", str(batch), "--steps", str(STEPS[model])]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="images per rank and step")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--worker", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.batch, args.steps)
        return
    print(f"batch {args.batch} per rank, one BLAS thread per rank, medians of {args.repeats} "
          f"runs on {os.cpu_count()} cores")
    print(f"{'model':6} {'ranks':>5} {'samples/s':>10} {'scaling':>8} {'step ms':>8} "
          f"{'all-reduce ms/step':>19}")
    for model in STEPS:
        base = None
        # Interleaved (1, 2, 1, 2, ...): on a shared machine both counts see the same load.
        runs_of: dict[int, list[dict]] = {ranks: [] for ranks in args.ranks}
        for _ in range(args.repeats):
            for ranks in args.ranks:
                runs_of[ranks].append(run(model, ranks, args.batch))
        for ranks, runs in runs_of.items():
            rate = statistics.median(r["samples_per_s"] for r in runs)
            step = statistics.median(r["step_ms"] for r in runs)
            reduce = statistics.median(r["allreduce_ms"] for r in runs)
            base = base or rate
            print(f"{model:6} {ranks:5d} {rate:10.0f} {rate / base:7.2f}x {step:8.2f} "
                  f"{reduce:19.3f}", flush=True)


if __name__ == "__main__":
    main()
