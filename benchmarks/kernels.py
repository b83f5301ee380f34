"""Operators per training step of the batch-32 MLP (64→256→256→10, SGD with momentum), by torch.profiler.

    .venv/bin/python -m benchmarks.kernels [--steps 50]

At batch 32 a step is bound by per-operator dispatch, not arithmetic, so the number of operators a step
runs is what fewer-kernel ideas must lower. Counts do not depend on the machine's load (times would).
Counted: top-level ``aten::`` operators (those not called from inside another ``aten::`` operator),
per step, for a plain loop with ``torch.optim.SGD`` (default implementation), the same with
``fused=True``, and a ``batchlab.fit`` step (its default callbacks on, timed steps 21-70).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

BATCH, ROWS = 32, 4096


def _top_level(events: Any) -> collections.Counter[str]:
    return collections.Counter(
        e.name
        for e in events
        if e.name.startswith("aten::") and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))
    )


def _plain(fused: bool, steps: int) -> collections.Counter[str]:
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    x, y = torch.randn(ROWS, 64), torch.randint(0, 10, (ROWS,))
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, fused=fused or None)

    def step(i: int) -> None:
        j = (i * BATCH) % (ROWS - BATCH)
        loss = F.cross_entropy(model(x[j : j + BATCH]), y[j : j + BATCH])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for i in range(5):
        step(i)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            step(i)
    return _top_level(prof.events())


def _batchlab(steps: int) -> collections.Counter[str]:
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    import batchlab
    from batchlab.train.callbacks import Callback

    held: dict[str, Any] = {}

    class Profile(Callback):
        def on_step_end(self, state: Any) -> None:
            if state.step == 20:
                held["p"] = profile(activities=[ProfilerActivity.CPU])
                held["p"].__enter__()
            elif state.step == 20 + steps:
                held["p"].__exit__(None, None, None)

    folder = Path(tempfile.mkdtemp(prefix="batchlab-kernels-"))
    rng = np.random.default_rng(0)
    np.savez(folder / "rows.npz", x=rng.standard_normal((ROWS, 64), dtype=np.float32), y=rng.integers(0, 10, ROWS))
    config = {
        "data": {"source": str(folder / "rows.npz"), "split": {"val": 0.1, "test": 0.0}, "scale": "none"},
        "model": {"name": "mlp", "hidden": [256, 256]},
        "train": {
            "batch_size": BATCH,
            "max_steps": steps + 30,
            "epochs": None,
            "threads": 1,
            "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
            "checkpoint": {"every_epochs": None},
        },
    }
    torch.set_num_threads(1)
    batchlab.fit(config, run_dir=folder / "run", callbacks=[Profile()], progress=False, plots=False)
    return _top_level(held["p"].events())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    runs: list[tuple[str, Callable[[], collections.Counter[str]]]] = [
        ("bare loop, torch.optim.SGD", lambda: _plain(False, args.steps)),
        ("bare loop, SGD fused=True", lambda: _plain(True, args.steps)),
        ("batchlab.fit", lambda: _batchlab(args.steps)),
    ]
    print("| loop | operators per step | the most frequent |")
    print("|---|---:|---|")
    for label, count in runs:
        names = count()
        total = sum(names.values()) / args.steps
        top = ", ".join(f"{k.removeprefix('aten::')} {v / args.steps:g}" for k, v in names.most_common(8))
        print(f"| {label} | {total:g} | {top} |", flush=True)


if __name__ == "__main__":
    main()
