"""Larger than memory: train from generated 2 GB and 16 GB float32 files with bounded memory.

    .venv/bin/python -m benchmarks.streaming [--sizes 2,16] [--rounds 3] [--steps 3000] [--cold]

Each file holds rows of 65 float32 values (64 standardized features, then a class label in 0..9 given by
a fixed random linear teacher), as one ``.npy`` array; files are generated once under
``$BATCHLAB_BENCH_CACHE/stream`` (default ``/tmp/batchlab-bench/stream``). Every job is a fresh
``batchlab.fit`` process under ``/usr/bin/time -v`` (its "Maximum resident set size" is the peak RSS
reported, whole process, data preparation included), with the default callbacks on, batch 256, the
MLP and SGD of the throughput benchmark, ``max_steps`` steps; samples/s is timed from step 500 to the
last step. Jobs:

* ``memory``: the 2 GB file loaded into memory (the reference throughput);
* ``exact`` / ``buffer``: ``data.stream`` with each shuffle, on every file size.

"Warm" jobs run with the file fully in the page cache (read through first; residency measured with
``fincore``); ``--cold`` adds "cold" jobs that evict the file from the page cache
(``posix_fadvise(DONTNEED)`` on that file only) before starting and again once the preparation pass
has read it through, so that training reads from the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.workload import CACHE, THREADS, job_environment

ROOT = Path(__file__).resolve().parents[1]
FOLDER = CACHE / "stream"
FEATURES, CLASSES = 64, 10
ROW_BYTES = (FEATURES + 1) * 4
TIMED_FROM = 500


def data_file(gigabytes: int) -> Path:
    """The generated file of ``gigabytes`` × 10⁹ bytes of rows (written once, in 64 MB chunks)."""
    path = FOLDER / f"rows-{gigabytes}gb.npy"
    if not path.exists():
        write_rows(path, gigabytes * 10**9 // ROW_BYTES)
    return path


def write_rows(path: Path, rows: int) -> Path:
    """Write ``rows`` rows of 64 features and a class label (float32, shape ``(rows, 65)``) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows, FEATURES + 1))
    teacher = np.random.default_rng(12345).standard_normal((FEATURES, CLASSES)).astype(np.float32)
    chunk = 1 << 18
    for start in range(0, rows, chunk):
        stop = min(rows, start + chunk)
        x = np.random.default_rng(start).standard_normal((stop - start, FEATURES), dtype=np.float32)
        array[start:stop, :FEATURES] = x
        array[start:stop, FEATURES] = np.argmax(x @ teacher, axis=1)
    array.flush()
    del array
    os.replace(tmp, path)
    return path


def cache_share(path: Path) -> float:
    """Fraction of ``path`` in the page cache (``fincore``), or nan when it cannot be measured."""
    done = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)], capture_output=True, text=True
    )
    try:
        return int(done.stdout.split()[0]) / path.stat().st_size
    except (IndexError, ValueError):
        return float("nan")


def warm(path: Path) -> None:
    """Read the whole file once so that it sits in the page cache."""
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(bytearray(64 << 20)):
            pass


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache (other files are untouched)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------ the job


def job(path: str, mode: str, steps: int, batch: int, cold: bool = False) -> dict[str, Any]:
    """One fresh-process training run; returns samples/s over the timed steps and timings.

    With ``cold``, the file is evicted from the page cache once preparation (which reads it through
    to fit the scaler) is done, so that training reads from the disk.
    """
    import torch

    torch.set_num_threads(THREADS)
    from rich.console import Console

    import batchlab
    from batchlab.train.callbacks import Callback

    marks: dict[str, float] = {}

    class StepTimer(Callback):
        def on_train_begin(self, state: Any) -> None:
            if cold:
                evict(Path(path))
            marks["begin"] = time.perf_counter()

        def on_step_end(self, state: Any) -> None:
            if state.step == TIMED_FROM:
                marks["from"] = time.perf_counter()
            marks["to"] = time.perf_counter()

    stream = {"enabled": mode != "memory", "shuffle": "exact" if mode == "memory" else mode}
    config = {
        "name": "stream-bench",
        "data": {"source": path, "split": {"val": 0.02, "test": 0.0}, "scale": "standard", "stream": stream},
        "model": {"name": "mlp", "hidden": [256, 256]},
        "train": {
            "batch_size": batch,
            "max_steps": steps,
            "epochs": None,
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "checkpoint": {"every_epochs": None},
            "threads": THREADS,
            "device": "cpu",
        },
    }
    console = Console(file=open(os.devnull, "w"), force_terminal=True, width=120)  # noqa: SIM115
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = batchlab.fit(config, run_dir=run_dir, callbacks=[StepTimer()], console=console, plots=False)
    return {
        "samples_per_s": (steps - TIMED_FROM) * batch / (marks["to"] - marks["from"]),
        "prepare_seconds": marks["begin"] - start,
        "val_accuracy": result.history[-1].get("val_accuracy", float("nan")),
    }


def run_job(path: Path, mode: str, steps: int, batch: int, cold: bool = False) -> dict[str, Any]:
    """Run :func:`job` in a fresh process under ``/usr/bin/time -v``; adds its peak RSS in bytes."""
    command = [
        "/usr/bin/time", "-v", sys.executable, "-m", "benchmarks.streaming", "--job",
        json.dumps({"path": str(path), "mode": mode, "steps": steps, "batch": batch, "cold": cold}),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=job_environment(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} on {path.name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    result["peak_rss"] = int(peak.group(1)) * 1024 if peak else float("nan")
    return result


# ------------------------------------------------------------------------------------- the report


def fmt(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    values = [v * scale for v in values]
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="2,16", help="file sizes in GB (10^9 bytes)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--modes", default="exact,buffer")
    parser.add_argument("--cold", action="store_true", help="also run with the file evicted from the page cache")
    args = parser.parse_args()
    if args.job:
        print(json.dumps(job(**json.loads(args.job))), flush=True)
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    files = {size: data_file(size) for size in sizes}
    jobs = [("memory", min(sizes), "warm")] + [(m, s, "warm") for s in sizes for m in args.modes.split(",")]
    if args.cold:
        jobs += [(m, s, "cold") for s in sizes for m in args.modes.split(",")]
    results: dict[tuple[str, int, str], list[dict[str, Any]]] = {key: [] for key in jobs}
    for round_ in range(args.rounds):
        print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr, flush=True)
        for mode, size, cache in jobs[round_ % len(jobs) :] + jobs[: round_ % len(jobs)]:
            path = files[size]
            (evict if cache == "cold" else warm)(path)
            resident, load = cache_share(path), os.getloadavg()[0]
            result = run_job(path, mode, args.steps, args.batch, cold=cache == "cold")
            result.update(round=round_, resident=resident, load=load)
            results[(mode, size, cache)].append(result)
            print(f"  {mode:7s} {size:3d} GB {cache}: {json.dumps(result)}", file=sys.stderr, flush=True)

    memory = {r["round"]: r["samples_per_s"] for r in results[("memory", min(sizes), "warm")]}
    lines = [
        "### Larger than memory: batch 256, peak RSS of the whole process",
        "",
        f"`python -m benchmarks.streaming {' '.join(sys.argv[1:])}`; {args.rounds} rounds, median (min–max); "
        f"throughput timed over steps {TIMED_FROM}–{args.steps}; ratio to the in-memory run of the same round.",
        "",
        "| data | file | page cache | samples/s | ratio to in-memory | peak RSS (MB) | preparation (s) |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for (mode, size, cache), rows in results.items():
        ratios = [r["samples_per_s"] / memory[r["round"]] for r in rows if r["round"] in memory]
        share = statistics.median(r["resident"] for r in rows)
        label = "in memory" if mode == "memory" else f"stream, {mode} shuffle"
        lines.append(
            f"| {label} | {size} GB | {cache} ({share:.0%} cached) | {fmt([r['samples_per_s'] for r in rows])} | "
            f"{fmt(ratios, digits=2)} | {fmt([r['peak_rss'] for r in rows], 1e-6)} | "
            f"{fmt([r['prepare_seconds'] for r in rows], digits=1)} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "streaming.md").write_text(report)
    raw = {f"{m} {s}GB {c}": v for (m, s, c), v in results.items()}
    (out / "streaming.json").write_text(json.dumps(raw, indent=1) + "\n")


if __name__ == "__main__":
    main()
