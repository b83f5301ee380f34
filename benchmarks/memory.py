"""In-memory data: peak resident memory of training on an ``.npy`` file, over the data's float32 size.

    .venv/bin/python -m benchmarks.memory [--megabytes 500,1000] [--rounds 1]

Each file holds rows of 65 float32 values (64 features, then a class label; the generator of
``benchmarks.streaming``), generated once under ``$BATCHLAB_BENCH_CACHE/memory``. Each job is a fresh
process that first trains on a 1 MB file of the same layout (so every module training uses is
imported and every lazy initialization done), reads its resident memory (``VmRSS``: the
interpreter's baseline), then trains in memory on the measured file (``data.split`` val 0.02, test
0, ``data.scale: standard``, 20 steps of batch 256, no checkpoints, no plots) and reads its peak
resident memory (``VmHWM``). The ratio is ``(peak - baseline) / file size``: 1.0 would be one
float32 copy of the data and nothing else. Page-cache pages of the file are not part of the
process's resident memory; pages of a memory map are, once touched.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.streaming import ROW_BYTES, write_rows
from benchmarks.workload import CACHE, THREADS, job_environment

ROOT = Path(__file__).resolve().parents[1]
FOLDER = CACHE / "memory"
STEPS, BATCH = 20, 256


def data_file(megabytes: int) -> Path:
    """The generated file of about ``megabytes`` × 10⁶ bytes of rows (written once)."""
    path = FOLDER / f"rows-{megabytes}mb.npy"
    return path if path.exists() else write_rows(path, max(1, megabytes * 10**6 // ROW_BYTES))


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _config(path: Path) -> dict[str, Any]:
    return {
        "name": "memory-bench",
        "data": {"source": str(path), "split": {"val": 0.02, "test": 0.0}, "scale": "standard"},
        "model": {"name": "mlp", "hidden": [256, 256]},
        "train": {
            "batch_size": BATCH,
            "max_steps": STEPS,
            "epochs": None,
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "checkpoint": {"every_epochs": None},
            "threads": THREADS,
            "device": "cpu",
        },
    }


def job(path: str) -> dict[str, Any]:
    """Baseline and peak resident memory (bytes) of training on ``path``, in this process."""
    import gc

    import batchlab

    with tempfile.TemporaryDirectory() as run_dir:
        batchlab.fit(_config(data_file(1)), run_dir=Path(run_dir) / "warm-up", progress=False, plots=False)
    gc.collect()
    baseline = _status_kib("VmRSS") * 1024
    with tempfile.TemporaryDirectory() as run_dir:
        batchlab.fit(_config(Path(path)), run_dir=Path(run_dir) / "run", progress=False, plots=False)
    peak = _status_kib("VmHWM") * 1024
    return {"baseline": baseline, "peak": peak, "data_bytes": Path(path).stat().st_size}


def run_job(path: Path) -> dict[str, Any]:
    """Run :func:`job` in a fresh process; adds ``ratio``, the peak above the baseline over the data's size."""
    command = [sys.executable, "-m", "benchmarks.memory", "--job", str(path)]
    done = subprocess.run(command, cwd=ROOT, env=job_environment(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory job on {path.name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["ratio"] = (result["peak"] - result["baseline"]) / result["data_bytes"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", default="500,1000", help="file sizes in MB, comma-separated")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        print(json.dumps(job(args.job)))
        return
    print(f"`python -m benchmarks.memory --megabytes {args.megabytes} --rounds {args.rounds}`\n")
    print("| file (MB) | baseline RSS (MB) | peak RSS (MB) | peak above baseline / data size |")
    print("|---:|---:|---:|---:|")
    for megabytes in (int(v) for v in args.megabytes.split(",")):
        path = data_file(megabytes)
        runs = [run_job(path) for _ in range(args.rounds)]
        ratios = [r["ratio"] for r in runs]
        spread = f" ({min(ratios):.2f}–{max(ratios):.2f})" if len(runs) > 1 else ""
        ratio = f"{statistics.median(ratios):.2f}{spread}"
        baseline = statistics.median(r["baseline"] for r in runs) / 1e6
        peak = statistics.median(r["peak"] for r in runs) / 1e6
        print(f"| {runs[0]['data_bytes'] / 1e6:,.0f} | {baseline:,.0f} | {peak:,.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
