"""Does the range test find the best rate? A grid search of constant rates per batch size, beside a study.

For each batch size and each rate of a log grid, the config trains for a fixed number of optimizer steps
(same steps at every size, constant rate, no early stopping) from ``--seeds`` seeds; the best rate of a
size is the one with the lowest mean validation loss at the end. The exponent of the best rate against
the batch size is fitted as in ``batchlab study lr-vs-batch``; given ``--study-dir`` (a finished
lr-vs-batch study of the same config), each suggestion rule's geometric mean per size is printed beside
the grid's best rate, with the error in decades.

    .venv/bin/python benchmarks/lr_grid.py configs/study-digits.yaml --sizes 8,32,128,512 --steps 150 \\
        --study-dir studies/digits-lr-sgd
    .venv/bin/python benchmarks/lr_grid.py configs/study-digits.yaml --set train.optimizer.name=adam \\
        --study-dir studies/digits-lr-adam

Results go to ``benchmarks/results/lr_grid-<name>.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def grid_best(
    config_path: str, overrides: list[str], sizes: list[int], steps: int, seeds: list[int], grid: list[float]
) -> dict[int, Any]:
    """The validation loss after ``steps`` steps at each (size, rate), averaged over seeds, and the best rate."""
    from batchlab.config import load_config
    from batchlab.data.pipeline import prepare_data
    from batchlab.experiment.builder import build_run
    from batchlab.train.callbacks import NaNGuard
    from batchlab.train.evaluation import evaluate_batches
    from batchlab.train.loop import fit

    fixed = ["train.schedule.name=constant", "train.schedule.warmup_steps=0", "train.early_stopping.enabled=false"]
    data = prepare_data(load_config(config_path, overrides).data)
    results: dict[int, Any] = {}
    for size in sizes:
        curve = []
        for rate in grid:
            losses = []
            for seed in seeds:
                sets = [
                    *overrides,
                    *fixed,
                    f"train.batch_size={size}",
                    f"train.seed={seed}",
                    f"train.optimizer.lr={rate}",
                ]
                parts = build_run(load_config(config_path, sets), data=data)
                loop = dataclasses.replace(parts.settings, epochs=None, max_steps=steps, val_every_steps=None)
                state = fit(
                    parts.model,
                    parts.train,
                    objective=parts.objective,
                    optimizer=parts.optimizer,
                    settings=loop,
                    callbacks=[NaNGuard()],
                )
                loss = math.inf
                if not state.diverged and parts.val is not None:
                    loss = float(evaluate_batches(parts.model, parts.val.epoch(0), parts.objective)["loss"])
                losses.append(loss if math.isfinite(loss) else math.inf)
            curve.append((rate, sum(losses) / len(losses)))
        best = min(curve, key=lambda point: point[1])
        results[size] = {"best_lr": best[0], "best_val_loss": best[1], "curve": curve}
        print(f"batch {size}: best lr {best[0]:.3g} (val loss {best[1]:.4f})", flush=True)
    return results


def study_means(study_dir: str) -> dict[str, dict[float, float]]:
    """Geometric mean suggestion of each rule per batch size of a finished lr-vs-batch study."""
    from batchlab.study.lr_batch import cell_records

    means: dict[str, dict[float, float]] = {}
    for rule in ("min10", "steepest"):
        logs: dict[float, list[float]] = {}
        for record in cell_records(study_dir):
            rate = record["suggestions"].get(rule)
            if rate is not None:
                logs.setdefault(float(record["batch"]), []).append(math.log(rate))
        means[rule] = {b: math.exp(sum(v) / len(v)) for b, v in sorted(logs.items())}
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--sizes", default="8,32,128,512")
    parser.add_argument("--steps", type=int, default=150, help="optimizer steps of every training run")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--grid", default="1e-5,3", help="first and last rate; 4 rates per decade between")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--study-dir", help="a finished lr-vs-batch study of the same config, to compare with")
    args = parser.parse_args()
    from batchlab.study.lr_exponent import fit_exponent

    low, high = (float(x) for x in args.grid.split(","))
    grid = [10 ** (k / 4) for k in range(round(4 * math.log10(low)), round(4 * math.log10(high)) + 1)]
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    results = grid_best(args.config, args.overrides, sizes, args.steps, [int(s) for s in args.seeds.split(",")], grid)
    fit = fit_exponent(sizes, [results[s]["best_lr"] for s in sizes])
    print(
        f"grid: best rate ∝ B^{fit.exponent:.2f} (least squares over {len(sizes)} sizes; no interval: one point each)"
    )
    out: dict[str, Any] = {
        "config": args.config,
        "overrides": args.overrides,
        "steps": args.steps,
        "grid": results,
        "exponent": fit.exponent,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.study_dir:
        means = study_means(args.study_dir)
        out["study"] = {rule: {str(b): r for b, r in m.items()} for rule, m in means.items()}
        print("batch | grid best | " + " | ".join(f"{rule} (decades off)" for rule in means))
        for size in sizes:
            best = results[size]["best_lr"]
            cells = [f"{m[size]:.3g} ({math.log10(m[size] / best):+.2f})" if size in m else "-" for m in means.values()]
            print(f"{size} | {best:.3g} | " + " | ".join(cells))
    name = Path(args.config).stem + "".join(f"-{o.split('=')[-1]}" for o in args.overrides if "optimizer.name" in o)
    path = REPO / "benchmarks" / "results" / f"lr_grid-{name}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written: {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
