"""Grid vs random vs Bayesian vs Bayesian with pruning, for the same budget of trials (docs/tuning.md).

Each method tunes the learning rate, batch size, weight decay and width of an MLP, with 3 seeds, on
digits and on Adult. For every study it records the best validation accuracy after 4, 8, ... trials,
the wall time, and how many trials were pruned; the table gives the median over the seeds.

    .venv/bin/python benchmarks/tuning.py                       # both datasets, 16 trials, seeds 0 1 2
    .venv/bin/python benchmarks/tuning.py --datasets digits --trials 8 --seeds 0

Each study is what this command runs (one worker, so that wall times compare):

    batchlab tune CONFIG --space SPACE --method grid --grid-points 3 --trials 16 --seed S --set train.epochs=E
    batchlab tune CONFIG --space SPACE --method random --trials 16 --seed S --set train.epochs=E
    batchlab tune CONFIG --space SPACE --method bayes --trials 16 --seed S --set train.epochs=E
    batchlab tune CONFIG --space SPACE --method bayes --prune median --trials 16 --seed S --set train.epochs=E
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# The same space for every method. Grid search takes 3 points of each continuous range (both ends and
# the geometric middle): 3 x 3 x 4 x 3 = 108 points, of which a budget of 16 visits a seeded shuffle.
SPACE = {
    "train.optimizer.lr": {"log_uniform": [1e-4, 3e-1]},
    "train.optimizer.weight_decay": {"log_uniform": [1e-6, 1e-2]},
    "train.batch_size": {"choice": [16, 64, 256, 1024]},
    "model.hidden": {"choice": [[32, 32], [128, 128], [512, 512]]},
}
DATASETS: dict[str, dict[str, Any]] = {
    "digits": {"config": REPO / "configs" / "digits.yaml", "overrides": ["train.epochs=8", "train.threads=1"]},
    "adult": {
        "config": REPO / "configs" / "adult.yaml",
        "overrides": [
            f"data.source={REPO.parent / 'shared' / 'data' / 'adult' / 'adult.data'}",
            "train.epochs=3",
            "train.threads=1",
        ],
    },
}
METHODS = {
    "grid": {"method": "grid", "grid_points": 3},
    "random": {"method": "random"},
    "bayes": {"method": "bayes"},
    "bayes+median pruning": {"method": "bayes", "prune": "median"},
}


def run_one(dataset: str, label: str, seed: int, trials: int, root: Path) -> dict[str, Any]:
    """One study; returns its best-so-far curve, wall time and state counts."""
    from batchlab.config import load_config
    from batchlab.tune.runner import run_study
    from batchlab.tune.settings import make_settings
    from batchlab.tune.space import parse_space

    spec = DATASETS[dataset]
    config = load_config(spec["config"], spec["overrides"])
    space = parse_space(SPACE, source="benchmarks/tuning.py")
    options = dict(METHODS[label])
    settings = make_settings(
        config,
        space,
        trials=trials,
        seed=seed,
        study_dir=root / dataset / label.replace(" ", "_").replace("+", "_") / f"seed{seed}",
        **options,
    )
    started = time.perf_counter()
    outcome = run_study(settings)
    seconds = time.perf_counter() - started
    finished = sorted((r for r in outcome.rows if r.is_finished), key=lambda r: r.number)
    best, curve = None, []
    for row in finished:
        if row.state == "COMPLETE" and row.value is not None:
            best = row.value if best is None else max(best, row.value)
        curve.append(best)
    return {
        "dataset": dataset,
        "method": label,
        "seed": seed,
        "best_curve": curve,
        "seconds": round(seconds, 1),
        "trial_seconds": round(sum(r.seconds or 0.0 for r in finished), 1),
        "states": {s: sum(r.state == s for r in finished) for s in ("COMPLETE", "PRUNED", "FAIL")},
        "best_params": outcome.best.params if outcome.best else None,
    }


def table(results: list[dict[str, Any]], checkpoints: list[int]) -> str:
    """A markdown table: median over seeds of the best validation accuracy after N trials, and time."""
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        lines.append(f"\n**{dataset}** (median of {len({r['seed'] for r in results})} seeds)\n")
        head = " | ".join(f"best val acc @ {n}" for n in checkpoints)
        lines.append(f"| method | {head} | wall s | trial s | pruned |")
        lines.append("|---|" + "---:|" * (len(checkpoints) + 3))
        for method in METHODS:
            runs = [r for r in results if r["dataset"] == dataset and r["method"] == method]
            if not runs:
                continue
            cells = []
            for n in checkpoints:
                values = [r["best_curve"][n - 1] for r in runs if len(r["best_curve"]) >= n]
                values = [v for v in values if v is not None]
                cells.append(f"{statistics.median(values):.4f}" if values else "-")
            wall = statistics.median(r["seconds"] for r in runs)
            trial = statistics.median(r["trial_seconds"] for r in runs)
            pruned = statistics.median(r["states"]["PRUNED"] for r in runs)
            lines.append(f"| {method} | {' | '.join(cells)} | {wall:.0f} | {trial:.0f} | {pruned:g} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-tuning" / "results.json")
    parser.add_argument("--table-only", action="store_true", help="Print the table of an earlier --out file.")
    args = parser.parse_args()
    checkpoints = [n for n in (4, 8, 12, 16, 24, 32) if n <= args.trials]
    if args.table_only:
        print(table(json.loads(args.out.read_text()), checkpoints))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["dataset"], r["method"], r["seed"]) for r in results}
    from batchlab.tune.worker import preload

    preload()  # imports are not part of any study's time
    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as root:
        for dataset in args.datasets:
            for seed in args.seeds:
                for method in args.methods:
                    if (dataset, method, seed) in done:
                        continue
                    result = run_one(dataset, method, seed, args.trials, Path(root))
                    results.append(result)
                    args.out.write_text(json.dumps(results, indent=1))
                    curve = result["best_curve"]
                    print(f"{dataset} {method} seed {seed}: best {curve[-1]} in {result['seconds']} s", flush=True)
    print(table(results, checkpoints))


if __name__ == "__main__":
    main()
