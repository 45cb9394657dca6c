"""Images/s on 10000 test-sized images: script runner vs the engine's own eval vs onnxruntime.

    python tests/benchmarks/bench_export.py [--repeats 5] [--batch 1000] [--models mlp,cnn]

Each figure is the median of the repeats over the whole 10000 images, in one process.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import engine as en
import engine.export as ex


def _median_rate(fn, x: np.ndarray, batch: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            fn(x[i:i + batch])
        times.append(time.perf_counter() - start)
    return len(x) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--models", default="mlp,cnn")
    args = parser.parse_args()
    from trainer.zoo import build_model

    x = np.random.default_rng(0).standard_normal((10000, 1, 28, 28)).astype(np.float32)
    print(f"{'model':6} {'runner':12} {'images/s':>10}   (10000 images, batch {args.batch}, "
          f"median of {args.repeats})")
    for name in args.models.split(","):
        en.manual_seed(0)
        model = build_model(name).eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = ex.export(model, en.zeros(1, 1, 28, 28), Path(tmp) / "m.safetensors")
            run = ex.load(path)

            def engine_eval(b, model=model):
                with en.no_grad():
                    return model(en.tensor(b)).numpy()

            rates = {"engine eval": _median_rate(engine_eval, x, args.batch, args.repeats),
                     "script": _median_rate(run, x, args.batch, args.repeats)}
            check = np.abs(run(x[:256]) - engine_eval(x[:256])).max()
            try:
                import onnxruntime as ort

                onnx_path = Path(tmp) / "m.onnx"
                ex.export(model, en.zeros(1, 1, 28, 28), onnx_path, format="onnx")
                sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
                rates["onnxruntime"] = _median_rate(
                    lambda b, s=sess: s.run(None, {"input": b})[0], x, args.batch, args.repeats)
            except ImportError:
                pass
        for runner, rate in rates.items():
            print(f"{name:6} {runner:12} {rate:10.0f}")
        print(f"{name:6} max |script - engine| = {check:.2e}")


if __name__ == "__main__":
    main()
