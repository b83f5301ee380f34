"""Data-parallel scaling on this machine: 1 vs 2 processes, and all-reduce cost vs model size.

    .venv/bin/python benchmarks/ddp.py            # prints a markdown table (about 3 minutes on 2 cores)

Each measurement is a fresh ``torchrun`` job training an MLP with ``batchlab.fit`` (default callbacks
on) on generated data (60,000 x 64 float32, 10 classes) at a fixed *global* batch, each process with
one thread. It reports total samples/s, samples/s per process, the scaling efficiency
(throughput with 2 / (2 x throughput with 1)), and, for each model size, the time of one gloo
all-reduce of the model's gradient against the time of a training step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTHS = (64, 256, 1024)
GLOBAL_BATCH = 512
EPOCHS = 2


def _worker(data: str, width: int, out: str) -> None:
    """Runs inside torchrun: train, then time an all-reduce of a gradient-sized buffer."""
    import torch
    import torch.distributed as dist

    import batchlab

    config = {
        "name": "ddp-bench",
        "data": {"source": data, "split": {"val": 0.1, "test": 0.0}},
        "model": {"name": "mlp", "hidden": [width, width]},
        "train": {
            "batch_size": GLOBAL_BATCH,
            "epochs": EPOCHS,
            "early_stopping": {"enabled": False},
            "checkpoint": {"every_epochs": None, "every_seconds": None},
            "threads": 1,
        },
    }
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    parameters = 64 * width + width + width * width + width + width * 10 + 10  # MLP 64 -> W -> W -> 10
    allreduce_ms = 0.0
    if world > 1:  # time the gradient all-reduce first; fit then reuses the process group and closes it
        dist.init_process_group("gloo")
        buffer = torch.zeros(parameters)
        for _ in range(3):
            dist.all_reduce(buffer)
        start = time.perf_counter()
        for _ in range(20):
            dist.all_reduce(buffer)
        allreduce_ms = (time.perf_counter() - start) / 20 * 1000
    result = batchlab.fit(config, run_dir=out + "/run", progress=False, plots=False)
    if rank == 0:
        info = result.info
        steps = info["steps"]
        Path(out, "result.json").write_text(
            json.dumps(
                {
                    "world": world,
                    "width": width,
                    "parameters": parameters,
                    "samples_per_second": info["samples"] / info["train_seconds"],
                    "step_ms": info["train_seconds"] / steps * 1000,
                    "allreduce_ms": allreduce_ms,
                }
            )
        )


def _measure(data: str, width: int, world: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={world}",
            __file__,
            "--worker",
            data,
            str(width),
            out,
        ]
        subprocess.run(command, check=True, env=env, capture_output=True)
        return json.loads(Path(out, "result.json").read_text())  # type: ignore[no-any-return]


def main() -> None:
    import numpy as np
    from sklearn.datasets import make_classification

    with tempfile.TemporaryDirectory() as folder:
        data = str(Path(folder) / "data.npz")
        x, y = make_classification(n_samples=60000, n_features=64, n_informative=32, n_classes=10, random_state=0)
        np.savez(data, x=x.astype("float32"), y=y)
        rows = []
        for width in WIDTHS:
            one, two = _measure(data, width, 1), _measure(data, width, 2)
            rows.append((width, one, two))
    print(f"global batch {GLOBAL_BATCH}, {EPOCHS} epochs, 1 thread per process, gloo on loopback\n")
    print(
        "| MLP width | parameters | 1 process samples/s | 2 processes samples/s | per process | efficiency "
        "| step (2 proc) | all-reduce of the gradient | share of the step |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for width, one, two in rows:
        efficiency = two["samples_per_second"] / (2 * one["samples_per_second"])
        share = two["allreduce_ms"] / two["step_ms"]
        print(
            f"| {width} | {one['parameters']:,} | {one['samples_per_second']:,.0f} | "
            f"{two['samples_per_second']:,.0f} | {two['samples_per_second'] / 2:,.0f} | {efficiency:.2f} | "
            f"{two['step_ms']:.2f} ms | {two['allreduce_ms']:.2f} ms | {share:.0%} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
