"""One measurement in a fresh process; prints one JSON line (the orchestrator reads the last line).

python -m benchmarks.job throughput SYSTEM BATCH [--samples N] [--warmup 1] [--timed 3]
python -m benchmarks.job accuracy SYSTEM [--target 0.97] [--max-epochs 100] [--option threads=2]
python -m benchmarks.job flops
python -m benchmarks.job workload NAME SYSTEM [--warmup 20] [--timed 200]   (see benchmarks/twins.py)
"""

from __future__ import annotations

import argparse
import json
import os
import time

from benchmarks.workload import (
    DIGITS_TARGET,
    N_SAMPLES,
    THREADS,
    digits_data,
    job_environment,
    scaled_data,
    set_threads,
)


def matmul_gflops(size: int = 2048, repeats: int = 7) -> float:
    """This CPU's float32 matrix-multiply rate with the job's threads: best of ``repeats`` products."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.job")
    parser.add_argument("kind", choices=["throughput", "accuracy", "flops", "workload"])
    parser.add_argument("system", nargs="?", help="a system; for workload: the workload's name")
    parser.add_argument("batch", nargs="?", help="the batch size; for workload: the system")
    parser.add_argument("--samples", type=int, default=N_SAMPLES)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timed", type=int, default=3)
    parser.add_argument("--target", type=float, default=DIGITS_TARGET)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--option", action="append", default=[], help="batchlab train.KEY=JSON (repeatable)")
    args = parser.parse_args()
    os.environ.update({k: v for k, v in job_environment().items() if k.endswith("_THREADS")})
    set_threads(THREADS)

    if args.kind == "flops":
        result: dict[str, float] = {"gflops": matmul_gflops()}
    elif args.kind == "workload":
        from benchmarks.twins import run

        result = run(args.system, args.batch, args.warmup, args.timed)
    else:
        from benchmarks.systems import load

        module = load(args.system)
        module.prepare()  # imports, lazy ones included, stay out of the timed span
        options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
        if args.kind == "throughput":
            data = scaled_data(args.samples)
            result = module.throughput(data, int(args.batch), args.warmup, args.timed, **options)
        else:
            result = module.time_to_accuracy(digits_data(), args.target, args.max_epochs, **options)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
