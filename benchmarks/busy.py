"""batchlab against the bare loop on a quiet machine and beside another CPU-bound process.

python -m benchmarks.busy [--rounds 3] [--batches 32,256] [--hogs 1]

Each round measures, in fresh processes, batchlab (``train.threads`` unset: the thread rule of
``batchlab.train.threads`` chooses) and the bare loop (2 threads, as in ``benchmarks.run``) at each batch
size: all rounds first with nothing else running, then with ``--hogs`` busy-looping processes started
``--settle`` seconds before (the rule reads the 1-minute load average).
The ratio batchlab / bare is taken within a round and condition; the report gives the medians and how
much of its quiet ratio batchlab keeps on the busy machine (``busy / quiet``). Run it on an otherwise idle
machine: the quiet half must be quiet.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.run import run_job


@contextmanager
def hogs(count: int) -> Iterator[None]:
    """``count`` processes spinning on the CPU for as long as the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def measure(batch: int) -> float:
    """batchlab samples/s over the bare loop's at ``batch`` (one round, one condition)."""
    common = ["--warmup", "1", "--timed", "2"]
    ours = run_job(["throughput", "batchlab", str(batch), *common, "--option", "threads=null"])
    bare = run_job(["throughput", "bare", str(batch), *common])
    return float(ours["samples_per_s"]) / float(bare["samples_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.busy")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", default="32,256")
    parser.add_argument("--hogs", type=int, default=1)
    parser.add_argument("--settle", type=float, default=60.0, help="seconds between starting the hogs and measuring")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    ratios: dict[tuple[str, int], list[float]] = {}
    for condition in ("quiet", "busy"):
        with hogs(args.hogs if condition == "busy" else 0):
            if condition == "busy":
                time.sleep(args.settle)  # the 1-minute load average the thread rule reads catches up
            for round_ in range(args.rounds):
                for batch in batches:
                    ratio = measure(batch)
                    ratios.setdefault((condition, batch), []).append(ratio)
                    print(f"round {round_ + 1} {condition:5} batch {batch:5}: batchlab/bare {ratio:.2f}", flush=True)
    print(f"\n| batch | quiet batchlab/bare | with {args.hogs} busy process(es) | kept (busy / quiet) |")
    print("|---:|---:|---:|---:|")
    summary = {}
    for batch in batches:
        quiet, busy = ratios[("quiet", batch)], ratios[("busy", batch)]
        q, b = statistics.median(quiet), statistics.median(busy)
        summary[batch] = {"quiet": quiet, "busy": busy}
        print(
            f"| {batch} | {q:.2f} ({min(quiet):.2f}–{max(quiet):.2f}) | {b:.2f} ({min(busy):.2f}–{max(busy):.2f}) "
            f"| {b / q:.2f} |"
        )
    print("\n" + json.dumps(summary))


if __name__ == "__main__":
    main()
