"""Spoken digits (FSDD): accuracy and training time of the default config, leave-one-speaker-out, the SVC
anchor, and what the features cost inside a training step (figures for docs/speech.md).

    .venv/bin/python -m benchmarks.speech                          # every part: 3 seeds, 6 folds
    .venv/bin/python -m benchmarks.speech --parts split,anchor     # some parts (the others keep their results)
    .venv/bin/python -m benchmarks.speech --quick                  # a tiny budget: checks that every part runs

Data: ``../shared/data/fsdd/recordings`` (2,700 recordings, 8 kHz, 6 speakers). Config:
``configs/spoken-digits.yaml`` (the default), with ``data.split.test: 0.15`` and ``train.threads`` set.

Parts (``--parts``):

* ``split``: a stratified random split holding out 15% of the recordings for test (validation, for early
  stopping, comes out of the other 85%), for each seed in ``--seeds`` (``data.split.seed`` and
  ``train.seed``); test accuracy and training seconds (``train_seconds`` of ``run.json``: the loop's
  wall time, validation and checkpoints included), and their means.
* ``speakers``: leave-one-speaker-out with :func:`batchlab.data.split.group_folds`: for each speaker a
  config whose ``data.source`` is a manifest of the other five speakers' recordings (validation 10% of
  them, stratified) and whose ``data.split.test_source`` is a manifest of the held-out speaker's; test
  accuracy per speaker and the mean (first seed only).
* ``anchor``: an SVC (scikit-learn, RBF kernel, C=10, features standardized) on the mean and the
  standard deviation over time of each of 40 log-mel bands (25 ms windows, 10 ms hop: the config's
  featurizer, unnormalized) of each recording, read with the config's options; on the same test rows as
  ``split`` (trained on the other 85%) and on the same speaker folds as ``speakers``.
* ``features``: on the first ``--batches`` training batches of epoch 0 (the run's own bucketed batches of
  32, on CPU), the median time of (1) the log-mel featurizer alone, (2) the whole training transform
  (noise, shift, featurizer, SpecAugment), (3) one whole training step (the transform, forward, loss,
  backward, optimizer step) of the default CNN; and (1) and (2) as shares of (3).

Results go to ``benchmarks/results/speech.json`` (``--quick``: ``$BATCHLAB_BENCH_CACHE/speech-quick.json``)
and a table is printed. Run it on a quiet machine: every figure is a wall time or depends on one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.workload import CACHE, THREADS

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "spoken-digits.yaml"
FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"
RESULTS = REPO / "benchmarks" / "results" / "speech.json"
PARTS = ("split", "speakers", "anchor", "features")
TEST_FRACTION = 0.15
SVC_C = 10.0
QUICK = ["train.epochs=1", "train.max_steps=6"]


# ------------------------------------------------------------------------------------------- configs


def load(overrides: Sequence[str], *, threads: int, quick: bool) -> Any:
    """The default config on FSDD with a 15% test split and ``overrides`` (plus the tiny budget when quick)."""
    from batchlab.config import load_config

    common = [f"data.source={FSDD}", f"data.split.test={TEST_FRACTION}", f"train.threads={threads}"]
    return load_config(CONFIG, [*common, *(QUICK if quick else []), *overrides])


def train(config: Any, run_dir: Path) -> dict[str, Any]:
    """Train one run; its test metrics and timing."""
    import batchlab

    result = batchlab.fit(config, run_dir=run_dir, progress=False, plots=False)
    metrics = result.test_metrics or {}
    return {
        "accuracy": metrics.get("accuracy"),
        "f1_macro": metrics.get("f1_macro"),
        "test_samples": metrics.get("samples"),
        "train_seconds": result.info.get("train_seconds"),
        "epochs": result.info.get("epochs_run"),
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
    }


def _mean(values: Sequence[float | None]) -> float | None:
    numbers = [float(v) for v in values if v is not None]
    return statistics.fmean(numbers) if numbers else None


# ----------------------------------------------------------------------------------------------- parts


def split_part(seeds: Sequence[int], *, threads: int, quick: bool, root: Path) -> dict[str, Any]:
    """(a) Stratified 85/15 split, one run per seed."""
    runs = []
    for seed in seeds:
        config = load([f"data.split.seed={seed}", f"train.seed={seed}"], threads=threads, quick=quick)
        run = {"seed": seed, **train(config, root / f"split-s{seed}")}
        print(f"  split seed {seed}: accuracy {run['accuracy']:.4f}, {run['train_seconds']:.1f} s", flush=True)
        runs.append(run)
    return {
        "runs": runs,
        "mean_accuracy": _mean([r["accuracy"] for r in runs]),
        "mean_train_seconds": _mean([r["train_seconds"] for r in runs]),
        "max_train_seconds": max(r["train_seconds"] for r in runs),
    }


def _manifest(path: Path, files: Sequence[Path], labels: Sequence[str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([str(f), label] for f, label in zip(files, labels, strict=True))
    return path


def speakers_part(seed: int, *, threads: int, quick: bool, folds: int | None, root: Path) -> dict[str, Any]:
    """(b) Leave-one-speaker-out: a run per held-out speaker, from manifests of the two sides."""
    from batchlab.data.audio import list_audio
    from batchlab.data.split import group_folds

    listing = list_audio(load([], threads=threads, quick=quick).data)
    assert listing.labels is not None and listing.groups is not None
    per_speaker = {}
    for fold in group_folds(listing.groups)[:folds]:
        side = {}
        for name, rows in (("train", fold.train), ("test", fold.test)):
            side[name] = _manifest(
                root / f"loso-{fold.group}-{name}.csv",
                [listing.paths[i] for i in rows],
                [listing.labels[i] for i in rows],
            )
        config = load(
            [
                f"data.source={side['train']}",
                "data.split.test=0",
                f"data.split.test_source={side['test']}",
                f"data.split.seed={seed}",
                f"train.seed={seed}",
            ],
            threads=threads,
            quick=quick,
        )
        per_speaker[fold.group] = train(config, root / f"loso-{fold.group}")
        run = per_speaker[fold.group]
        print(f"  held-out {fold.group}: accuracy {run['accuracy']:.4f}, {run['train_seconds']:.1f} s", flush=True)
    return {
        "seed": seed,
        "per_speaker": per_speaker,
        "mean_accuracy": _mean([r["accuracy"] for r in per_speaker.values()]),
    }


def band_statistics(config: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every recording read with the config's options: ``(features (n, 80), labels (n,), groups (n,))``.

    Features are the mean and the standard deviation over valid frames of each of 40 log-mel bands.
    """
    import torch

    from batchlab.data.audio import FeatureSettings, Featurizer, load_audio_source

    source = load_audio_source(config.data)
    audio = config.data.audio
    featurizer = Featurizer(FeatureSettings(audio.sample_rate, "logmel", 40, audio.n_mfcc, audio.win_ms, audio.hop_ms))
    rows = []
    with torch.no_grad():
        for start in range(0, len(source), 64):
            index = torch.arange(start, min(start + 64, len(source)))
            waves, lengths = source.waveforms.pad(index)
            features, frames = featurizer(waves, lengths)  # (batch, time, 40), zero past each length
            count = frames.to(torch.float64).unsqueeze(1)
            total = features.to(torch.float64).sum(dim=1)
            mean = total / count
            square = features.to(torch.float64).square().sum(dim=1) / count
            rows.append(torch.cat([mean, (square - mean.square()).clamp(min=0).sqrt()], dim=1).numpy())
    assert source.labels is not None and source.groups is not None
    return np.concatenate(rows), np.asarray(source.labels), np.asarray(source.groups)


def anchor_part(seeds: Sequence[int], *, threads: int, quick: bool, folds: int | None) -> dict[str, Any]:
    """(c) The SVC on band statistics, on the ``split`` part's test rows and the speaker folds."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from batchlab.data.split import group_folds, split_indices

    config = load([], threads=threads, quick=quick)
    features, labels, groups = band_statistics(config)

    def score(train: np.ndarray, test: np.ndarray) -> float:
        model = make_pipeline(StandardScaler(), SVC(C=SVC_C, kernel="rbf", gamma="scale"))
        model.fit(features[train], labels[train])
        return float(np.mean(model.predict(features[test]) == labels[test]))

    split = {}
    for seed in seeds:
        # The rows batchlab's split gives the same config (prepare_audio calls split_indices the same way).
        train, val, test = split_indices(
            len(labels), val=config.data.split.val, test=TEST_FRACTION, seed=seed, stratify_labels=labels
        )
        split[seed] = score(np.concatenate([train, val]), test)
        print(f"  SVC split seed {seed}: accuracy {split[seed]:.4f}", flush=True)
    speakers = {}
    for fold in group_folds(groups)[:folds]:
        speakers[fold.group] = score(fold.train, fold.test)
        print(f"  SVC held-out speaker {fold.group}: accuracy {speakers[fold.group]:.4f}", flush=True)
    return {
        "model": f"StandardScaler + SVC(C={SVC_C:g}, rbf) on mean and std of 40 log-mel bands",
        "split": {"per_seed": split, "mean_accuracy": _mean(list(split.values()))},
        "speakers": {"per_speaker": speakers, "mean_accuracy": _mean(list(speakers.values()))},
    }


def features_part(*, threads: int, quick: bool, batches: int) -> dict[str, Any]:
    """(d) The featurizer and the training transform as shares of a whole training step of the default CNN."""
    import torch

    from batchlab.data.batch import Batch
    from batchlab.experiment.builder import build_run

    parts = build_run(load([], threads=threads, quick=False))
    model, objective, optimizer = parts.model, parts.objective, parts.optimizer
    transform = parts.train.transform  # type: ignore[attr-defined]
    featurizer = parts.eval_transform.featurizer
    split = parts.data.train
    plan = parts.train.plan(0)[: batches + 2]  # type: ignore[attr-defined]
    times: dict[str, list[float]] = {"featurizer": [], "transform": [], "step": []}
    model.train()
    for index, rows in enumerate(plan):
        waves, lengths = split.x.pad(rows)
        batch = Batch(waves, split.y[rows], lengths)
        started = time.perf_counter()
        with torch.no_grad():
            featurizer(batch.x, batch.lengths)
        featurized = time.perf_counter()
        with torch.no_grad():
            transform(batch, 0, index)
        transformed = time.perf_counter()
        features = transform(batch, 0, index)
        outputs = model(*features.inputs)
        loss = objective.loss(outputs, features.y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        stepped = time.perf_counter()
        if index >= 2:  # the first two batches warm up allocators and kernels
            times["featurizer"].append(featurized - started)
            times["transform"].append(transformed - featurized)
            times["step"].append(stepped - transformed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "batches": len(times["step"]),
        "batch_size": parts.info["batch_size"],
        "mean_samples_per_batch": float(np.mean([len(rows) for rows in plan[2:]])),
        "median_ms": {name: 1000 * value for name, value in medians.items()},
        "featurizer_share": medians["featurizer"] / medians["step"],
        "transform_share": medians["transform"] / medians["step"],
    }


# ---------------------------------------------------------------------------------------------- table


def table(results: dict[str, Any]) -> str:
    """The results as aligned text lines."""
    lines = []
    split = results.get("split")
    if split:
        accuracies = ", ".join(f"{r['accuracy']:.4f}" for r in split["runs"])
        lines.append(
            f"split 85/15      batchlab CNN  accuracy {split['mean_accuracy']:.4f} (seeds: {accuracies}); "
            f"training {split['mean_train_seconds']:.1f} s mean, {split['max_train_seconds']:.1f} s max"
        )
    anchor = results.get("anchor")
    if anchor:
        lines.append(f"split 85/15      SVC anchor    accuracy {anchor['split']['mean_accuracy']:.4f}")
    speakers = results.get("speakers")
    if speakers:
        each = ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in speakers["per_speaker"].items())
        lines.append(f"one speaker out  batchlab CNN  accuracy {speakers['mean_accuracy']:.4f} ({each})")
    if anchor and anchor["speakers"]["per_speaker"]:
        each = ", ".join(f"{k} {v:.3f}" for k, v in anchor["speakers"]["per_speaker"].items())
        lines.append(f"one speaker out  SVC anchor    accuracy {anchor['speakers']['mean_accuracy']:.4f} ({each})")
    cost = results.get("features")
    if cost:
        ms = cost["median_ms"]
        lines.append(
            f"features         per batch of {cost['batch_size']}: featurizer {ms['featurizer']:.1f} ms "
            f"({cost['featurizer_share']:.1%} of a step), training transform {ms['transform']:.1f} ms "
            f"({cost['transform_share']:.1%}), whole step {ms['step']:.1f} ms"
        )
    return "\n".join(lines)


DOCS = REPO / "docs" / "speech.md"
BEGIN, END = "<!-- speech-results:begin -->", "<!-- speech-results:end -->"


def markdown(results: dict[str, Any]) -> str:
    """The results as the markdown tables of ``docs/speech.md``."""
    lines = ["| measure | batchlab (`configs/spoken-digits.yaml`) | SVC anchor | target |", "|---|---|---|---|"]
    split, anchor, speakers, cost = (results.get(k) for k in ("split", "anchor", "speakers", "features"))
    if split:
        seeds = ", ".join(f"{r['accuracy']:.4f}" for r in split["runs"])
        svc = f"{anchor['split']['mean_accuracy']:.4f}" if anchor else "-"
        lines.append(
            f"| test accuracy, stratified 85/15, mean of {len(split['runs'])} seeds | {split['mean_accuracy']:.4f} "
            f"({seeds}) | {svc} | ≥ 0.98 |"
        )
        lines.append(
            f"| training seconds (2 threads) | {split['mean_train_seconds']:.0f} mean, "
            f"{split['max_train_seconds']:.0f} max | - | < 180 |"
        )
    if speakers:
        svc = f"{anchor['speakers']['mean_accuracy']:.4f}" if anchor and anchor["speakers"]["per_speaker"] else "-"
        lines.append(f"| leave-one-speaker-out, mean of 6 folds | {speakers['mean_accuracy']:.4f} | {svc} | ≥ 0.75 |")
    if cost:
        lines.append(
            f"| features of a batch of {cost['batch_size']}, share of a training step | featurizer "
            f"{cost['featurizer_share']:.1%}; with augmentation {cost['transform_share']:.1%} | - | ≤ 10% |"
        )
    if speakers:
        lines += ["", "| held-out speaker | batchlab | SVC anchor |", "|---|---|---|"]
        svc_each = anchor["speakers"]["per_speaker"] if anchor else {}
        for name, value in speakers["per_speaker"].items():
            other = f"{svc_each[name]:.3f}" if name in svc_each else "-"
            lines.append(f"| {name} | {value['accuracy']:.3f} | {other} |")
    return "\n".join(lines)


def write_docs(results: dict[str, Any]) -> None:
    """Put :func:`markdown` between the markers of ``docs/speech.md`` (figures come from this command only)."""
    import re

    machine = results.get("machine", {})
    head = f"Measured by `python -m benchmarks.speech` ({machine.get('cpus')} CPUs, {machine.get('threads')} threads):"
    block = f"{BEGIN}\n{head}\n\n{markdown(results)}\n{END}"
    text = DOCS.read_text(encoding="utf-8")
    DOCS.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the split part and the anchor's splits")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads of each run")
    parser.add_argument("--batches", type=int, default=30, help="features part: timed training batches")
    parser.add_argument("--quick", action="store_true", help="a tiny budget (1 seed, 2 folds, a few steps)")
    parser.add_argument("--out", type=Path, default=None, help="results file (default: see the module doc)")
    parser.add_argument("--report", action="store_true", help="only rewrite docs/speech.md from the saved results")
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads(RESULTS.read_text())
        write_docs(saved)
        print(markdown(saved))
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    folds, batches = None, args.batches
    if args.quick:
        seeds, folds, batches = seeds[:1], 2, 3
    out = args.out or (CACHE / "speech-quick.json" if args.quick else RESULTS)
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory(prefix="batchlab-speech-") as folder:
        root = Path(folder)
        for part in parts:
            print(f"{part} ...", flush=True)
            started = time.perf_counter()
            if part == "split":
                results[part] = split_part(seeds, threads=args.threads, quick=args.quick, root=root)
            elif part == "speakers":
                results[part] = speakers_part(seeds[0], threads=args.threads, quick=args.quick, folds=folds, root=root)
            elif part == "anchor":
                results[part] = anchor_part(seeds, threads=args.threads, quick=args.quick, folds=folds)
            else:
                results[part] = features_part(threads=args.threads, quick=args.quick, batches=batches)
            results[part]["wall_seconds"] = round(time.perf_counter() - started, 1)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1) + "\n")  # after each part: a crash keeps the others
    if not args.quick:
        write_docs(results)
    print(table(results))
    print(f"Results: {out}")


if __name__ == "__main__":
    main()
