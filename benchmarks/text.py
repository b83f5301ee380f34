"""Text benchmarks: SMS spam against scikit-learn, length bucketing, and the character GPT against a bare script.

    .venv/bin/python -m benchmarks.text [--sections sms,bucketing,shakespeare] [--rounds 3] [--quick]

- ``sms``: the SMS Spam Collection, stratified 70/15/15 split (seed 0, the split batchlab makes);
  test F1 of the spam class and accuracy of ``configs/sms-spam.yaml`` over 3 training seeds, with its
  training seconds; beside it the anchors, fitted on the same training rows: character 2-5-gram
  TF-IDF + LinearSVC and word TF-IDF + logistic regression (scikit-learn).
- ``bucketing``: the same training split at batch 32: padded tokens of random batches vs length-bucketed
  ones (over a whole epoch, no training), and tokens per second of the transformer classifier of
  ``configs/sms-spam-transformer.yaml`` trained one epoch each way (valid tokens / training seconds),
  interleaved over rounds.
- ``shakespeare``: ``configs/shakespeare-char.yaml`` (char GPT, 4 layers, 4 heads, width 128, context 64,
  batch 12) against ``benchmarks/char_gpt_bare.py`` (the same model and schedule in a plain PyTorch
  loop), each in a fresh process, rounds interleaved: wall seconds of training (evaluation included)
  until the validation loss first reaches 1.88 nats per character, and the ratio batchlab / bare.
- ``long`` (not in the default sections: about 20 minutes): ``batchlab train
  configs/shakespeare-char-long.yaml`` in a fresh process, and the wall seconds at which its validation loss
  first reaches 1.60 nats per character (from the run's ``metrics.csv``). ``--from-run DIR`` reads a run of
  that config trained earlier instead of training one.

Results go to ``benchmarks/results/text.json`` and a table on stdout. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SMS_CONFIG = ROOT / "configs" / "sms-spam.yaml"
SMS_TRANSFORMER = ROOT / "configs" / "sms-spam-transformer.yaml"
GPT_CONFIG = ROOT / "configs" / "shakespeare-char.yaml"
LONG_CONFIG = ROOT / "configs" / "shakespeare-char-long.yaml"
TARGET = 1.88
LONG_TARGET = 1.60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="sms,bucketing,shakespeare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check that everything runs")
    parser.add_argument("--from-run", type=Path, help="long: read this finished run instead of training one")
    parser.add_argument(
        "--report", action="store_true", help="only rewrite the report (and docs/text.md) from the saved results"
    )
    args = parser.parse_args()
    if args.report:
        saved = json.loads((RESULTS / "text.json").read_text())
        write_docs(saved)
        print(report(saved))
        return
    sections = args.sections.split(",")
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": args.quick}
    if "sms" in sections:
        results["sms"] = sms(args.quick)
    if "bucketing" in sections:
        results["bucketing"] = bucketing(args.rounds, args.quick)
    if "shakespeare" in sections:
        results["shakespeare"] = shakespeare(args.rounds, args.quick)
    if "long" in sections:
        results["long"] = long_run(args.from_run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("text-quick.json" if args.quick else "text.json")
    if out.exists():  # sections run separately add up in one file
        results = {**json.loads(out.read_text()), **results}
    out.write_text(json.dumps(results, indent=2) + "\n")
    if not args.quick:
        write_docs(results)
    print(report(results))
    print(f"\nwritten: {out.relative_to(ROOT)}")


# ------------------------------------------------------------------------------------------------ sms


def sms(quick: bool) -> dict[str, Any]:
    """batchlab's default SMS config over 3 seeds, and the scikit-learn anchors on the same split."""
    import batchlab

    rows: list[dict[str, Any]] = []
    for seed in (0, 1, 2):
        overrides = [f"train.seed={seed}"] + (["train.epochs=1"] if quick else [])
        started = time.perf_counter()
        result = batchlab.fit(str(SMS_CONFIG), overrides=overrides, run_dir=_scratch(f"sms-{seed}"), progress=False)
        assert result.test_metrics is not None
        spam = result.info["classes"].index("spam")
        rows.append(
            {
                "seed": seed,
                "f1_spam": result.test_metrics["f1_per_class"][spam],
                "accuracy": result.test_metrics["accuracy"],
                "train_seconds": result.info["train_seconds"],
                "process_seconds": time.perf_counter() - started,
                "epochs": result.info["epochs_run"],
            }
        )
    return {"batchlab": rows, "anchors": _sklearn_anchors()}


def _sklearn_anchors() -> dict[str, dict[str, float]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.svm import LinearSVC

    texts, labels, (train, _, test) = _sms_split()
    anchors = {
        "char 2-5-gram TF-IDF + LinearSVC": (TfidfVectorizer(analyzer="char", ngram_range=(2, 5)), LinearSVC()),
        "word TF-IDF + logistic regression": (TfidfVectorizer(), LogisticRegression(max_iter=1000)),
    }
    out = {}
    for name, (vectorizer, model) in anchors.items():
        started = time.perf_counter()
        x_train = vectorizer.fit_transform([texts[i] for i in train])
        model.fit(x_train, labels[train])
        seconds = time.perf_counter() - started
        predicted = model.predict(vectorizer.transform([texts[i] for i in test]))
        out[name] = {
            "f1_spam": float(f1_score(labels[test], predicted, pos_label="spam")),
            "accuracy": float(accuracy_score(labels[test], predicted)),
            "train_seconds": seconds,
        }
    return out


def _sms_split() -> tuple[list[str], Any, tuple[Any, Any, Any]]:
    """The SMS texts, labels and batchlab's train/val/test row indices for the default config."""
    import numpy as np

    from batchlab.config import load_config
    from batchlab.data.split import split_indices
    from batchlab.data.text import read_text_table

    cfg = load_config(SMS_CONFIG).data
    table = read_text_table(cfg)
    labels = np.asarray(table.labels, dtype=str)
    split = split_indices(
        len(table), val=cfg.split.val, test=cfg.split.test, seed=cfg.split.seed, stratify_labels=labels
    )
    return list(table.texts), labels, split


# ------------------------------------------------------------------------------------------ bucketing


def bucketing(rounds: int, quick: bool) -> dict[str, Any]:
    """Padded tokens and tokens per second at batch 32, bucketed against random batches."""
    from batchlab.config import load_config
    from batchlab.data.sequences import SequenceBatches

    base = load_config(SMS_TRANSFORMER, ["train.batch_size=32"])
    from batchlab.data.pipeline import prepare_data

    data = prepare_data(base.data)
    padding = {}
    for bucket in (True, False):
        batches = SequenceBatches(data.train.x, data.train.y, 32, bucket=bucket, seed=0)
        valid, padded = batches.padding(0)
        padding["bucketed" if bucket else "random"] = {"valid": valid, "padded": padded, "pad_tokens": padded - valid}
    speed: dict[str, list[float]] = {"bucketed": [], "random": []}
    for round_ in range(1 if quick else rounds):
        order = ("bucketed", "random") if round_ % 2 == 0 else ("random", "bucketed")
        for name in order:
            speed[name].append(_tokens_per_second(base, data, name == "bucketed", quick))
    ratios = [b / r for b, r in zip(speed["bucketed"], speed["random"], strict=True)]
    return {
        "padding": padding,
        "pad_ratio": padding["bucketed"]["pad_tokens"] / max(1, padding["random"]["pad_tokens"]),
        "tokens_per_second": speed,
        "speedup": ratios,
    }


def _tokens_per_second(config: Any, data: Any, bucket: bool, quick: bool) -> float:
    """Valid tokens per training second of one epoch (the loop only: no evaluation, no files)."""
    from batchlab.experiment.builder import build_run
    from batchlab.train.loop import fit

    settings = ["train.epochs=1", f"train.bucket={'true' if bucket else 'false'}", "train.early_stopping.enabled=false"]
    if quick:
        settings.append("train.max_steps=10")
    from batchlab.config import make_config

    cfg = make_config(config, settings)
    parts = build_run(cfg, data=data)
    meter = next(c for c in parts.callbacks if type(c).__name__ == "PaddingMeter")
    started = time.perf_counter()
    state = fit(parts.model, parts.train, objective=parts.objective, optimizer=parts.optimizer,
                scheduler=parts.scheduler, settings=parts.settings, callbacks=[meter])  # fmt: skip
    seconds = time.perf_counter() - started
    tokens = state.history[-1]["tokens"]
    return float(tokens / seconds)


# ---------------------------------------------------------------------------------------- shakespeare


def shakespeare(rounds: int, quick: bool) -> dict[str, Any]:
    """Seconds to validation loss 1.88: batchlab and the bare script, fresh processes, interleaved."""
    steps = 60 if quick else 4000
    every = 20 if quick else 250
    target = 10.0 if quick else TARGET
    runs: dict[str, list[dict[str, Any]]] = {"batchlab": [], "bare": []}
    for round_ in range(1 if quick else rounds):
        order = ("batchlab", "bare") if round_ % 2 == 0 else ("bare", "batchlab")
        for name in order:
            runs[name].append(_gpt_run(name, steps, every, target))
    ratios = [
        a["seconds"] / b["seconds"]
        for a, b in zip(runs["batchlab"], runs["bare"], strict=True)
        if a.get("seconds") and b.get("seconds")
    ]
    return {"target": target, "steps": steps, "eval_every": every, "runs": runs, "ratio": ratios}


def _gpt_run(system: str, steps: int, every: int, target: float) -> dict[str, Any]:
    """The first evaluation at or below ``target``: its step and wall seconds (``None`` if never)."""
    if system == "bare":
        command = [sys.executable, "-m", "benchmarks.char_gpt_bare", "--steps", str(steps), "--eval-every", str(every),
                   "--target", str(target)]  # fmt: skip
    else:
        command = [sys.executable, "-m", "benchmarks.text_gpt_job", "--steps", str(steps), "--eval-every", str(every),
                   "--target", str(target)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=_environment())
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    hit = next((r for r in rows if r["val_loss"] <= target), None)
    return {"rows": rows, "step": hit["step"] if hit else None, "seconds": hit["seconds"] if hit else None}


def long_run(from_run: Path | None) -> dict[str, Any]:
    """The documented long config: wall seconds (evaluation included) to validation loss 1.60, final loss."""
    import csv

    run = from_run
    if run is None:
        run = _scratch("long")
        command = [sys.executable, "-m", "batchlab", "train", str(LONG_CONFIG), "--run-dir", str(run), "-q"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=_environment())
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    with open(run / "metrics.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("val_loss")]
    evaluated = [
        {"step": int(r["step"]), "seconds": float(r["seconds"]), "val_loss": float(r["val_loss"])} for r in rows
    ]
    hit = next((r for r in evaluated if r["val_loss"] <= LONG_TARGET), None)
    info = json.loads((run / "run.json").read_text())
    return {
        "config": str(LONG_CONFIG.relative_to(ROOT)),
        "target": LONG_TARGET,
        "rows": evaluated,
        "step": hit["step"] if hit else None,
        "seconds": hit["seconds"] if hit else None,
        "best_val_loss": min(r["val_loss"] for r in evaluated),
        "total_seconds": evaluated[-1]["seconds"],
        "parameters": info.get("parameters"),
    }


def _environment() -> dict[str, str]:
    from benchmarks.workload import job_environment

    return job_environment()


def _scratch(name: str) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"batchlab-bench-{name}-")) / "run"


# --------------------------------------------------------------------------------------------- report

DOCS = ROOT / "docs" / "text.md"
BEGIN, END = "<!-- text-results:begin -->", "<!-- text-results:end -->"


def write_docs(results: dict[str, Any]) -> None:
    """Put the report between the markers of ``docs/text.md`` (figures come from this command only)."""
    import re

    text = DOCS.read_text(encoding="utf-8")
    block = f"{BEGIN}\nMeasured by `python -m benchmarks.text` ({results.get('started')}):\n\n{report(results)}\n{END}"
    DOCS.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S))


def report(results: dict[str, Any]) -> str:
    """The results as markdown tables."""
    lines = []
    if "sms" in results:
        rows = results["sms"]["batchlab"]
        f1 = [r["f1_spam"] for r in rows]
        lines += [
            "### SMS spam (stratified 70/15/15, test split)",
            "",
            "| system | spam F1 | accuracy | training seconds |",
            "|---|---|---|---|",
            f"| batchlab `configs/sms-spam.yaml`, mean of {len(rows)} seeds | {statistics.mean(f1):.3f} "
            f"({min(f1):.3f}-{max(f1):.3f}) | {statistics.mean(r['accuracy'] for r in rows):.3f} | "
            f"{statistics.mean(r['train_seconds'] for r in rows):.0f} |",
        ]
        for name, anchor in results["sms"]["anchors"].items():
            lines.append(
                f"| {name} | {anchor['f1_spam']:.3f} | {anchor['accuracy']:.3f} | {anchor['train_seconds']:.1f} |"
            )
        lines.append("")
    if "bucketing" in results:
        b = results["bucketing"]
        speed = b["tokens_per_second"]
        lines += [
            "### Length bucketing (SMS spam, batch 32, transformer classifier)",
            "",
            f"- padded tokens per epoch: bucketed {b['padding']['bucketed']['pad_tokens']:,}, random "
            f"{b['padding']['random']['pad_tokens']:,} (ratio {b['pad_ratio']:.3f})",
            f"- tokens/s: bucketed {statistics.median(speed['bucketed']):,.0f}, random "
            f"{statistics.median(speed['random']):,.0f}; speed-up {statistics.median(b['speedup']):.2f}x "
            f"(range {min(b['speedup']):.2f}-{max(b['speedup']):.2f} over {len(b['speedup'])} rounds)",
            "",
        ]
    if "shakespeare" in results:
        s = results["shakespeare"]
        lines += [f"### Tiny Shakespeare, char GPT: seconds to validation loss {s['target']}", ""]
        for name in ("batchlab", "bare"):
            seconds = [r["seconds"] for r in s["runs"][name] if r["seconds"]]
            steps = [r["step"] for r in s["runs"][name] if r["step"]]
            shown = (
                f"{statistics.median(seconds):.0f} s at step {statistics.median(steps):.0f}"
                if seconds
                else "not reached"
            )
            lines.append(f"- {name}: {shown}")
        if s["ratio"]:
            ratio = s["ratio"]
            lines.append(f"- batchlab / bare: {statistics.median(ratio):.2f} (range {min(ratio):.2f}-{max(ratio):.2f})")
        lines.append("")
    if "long" in results:
        long = results["long"]
        reached = (
            f"{long['seconds']:.0f} s ({long['seconds'] / 60:.1f} min) at step {long['step']:,}"
            if long["seconds"]
            else "not reached"
        )
        curve = ", ".join(f"{r['val_loss']:.3f} at step {r['step']:,} ({r['seconds']:.0f} s)" for r in long["rows"])
        lines += [
            f"### Tiny Shakespeare, `{long['config']}`: seconds to validation loss {long['target']:.2f}",
            "",
            f"- validation loss {long['target']:.2f} first reached: {reached}",
            f"- lowest validation loss {long['best_val_loss']:.3f}; the run took {long['total_seconds']:.0f} s",
            f"- validation loss (nats/char): {curve}",
        ]
    return "\n".join(lines).rstrip("\n")


if __name__ == "__main__":
    main()
