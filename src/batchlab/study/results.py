"""From finished cells to answers: one row per cell, one per batch size (mean and std over seeds), the
critical-batch fit, and the conclusions in plain words.

Times are training seconds without evaluation (see :class:`batchlab.study.callbacks.StudyClock`); the
generalization gap is the final weights' training metric minus their validation metric, both measured in
evaluation mode after training.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchlab.plural import counted
from batchlab.study.critical import CriticalBatchFit, fit_critical_batch
from batchlab.study.targets import Target, first_reached, metric_direction

__all__ = ["StudyAnalysis", "analyze_study", "cell_row", "main_metric", "size_summary"]


@dataclass(frozen=True)
class StudyAnalysis:
    """Everything the report shows.

    Attributes:
        metric: the validation metric compared across sizes (the target's, else accuracy / R² / loss).
        target: the target, or ``None``.
        rows: one dict per cell (see :func:`cell_row`).
        summary: one dict per batch size (see :func:`size_summary`).
        fit: the critical-batch fit of steps to target (``None`` without a target).
        seed_fits: the same fit per seed (for its spread).
        conclusions: sentences for people.
    """

    metric: str
    target: Target | None
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    fit: CriticalBatchFit | None
    seed_fits: list[CriticalBatchFit]
    conclusions: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "target": str(self.target) if self.target else None,
            "cells": self.rows,
            "summary": self.summary,
            "critical_batch": self.fit.to_dict() if self.fit else None,
            "critical_batch_per_seed": [f.to_dict() for f in self.seed_fits],
            "conclusions": self.conclusions,
        }


def main_metric(cells: Sequence[dict[str, Any]], target: Target | None) -> str:
    """The target's metric, else the first of ``val_accuracy``, ``val_r2``, ``val_loss``, ``train_loss`` logged."""
    if target is not None:
        return target.metric
    names = {k for c in cells for k in c.get("final", {})}
    return next((m for m in ("val_accuracy", "val_r2", "val_loss", "train_loss") if m in names), "train_loss")


def cell_row(cell: dict[str, Any], metric: str, target: Target | None) -> dict[str, Any]:
    """One cell's table row.

    Keys: ``size``, ``batch_size``, ``seed``, ``lr``, ``batches_per_epoch``, ``steps`` (total run),
    ``steps_to_target``, ``samples_to_target``, ``epochs_to_target``, ``seconds_to_target`` (training
    seconds), ``wall_seconds_to_target`` (with evaluation), ``final``, ``best``, ``gap`` (train − validation
    of the final weights), ``samples_per_second``, ``epoch_seconds``, ``peak_rss`` / ``rss_growth`` /
    ``cuda_peak`` (bytes). Values that do not apply are ``None``.
    """
    curve = cell.get("curve", [])
    final = cell.get("final", {})
    train_samples = int(cell["train_samples"])
    hit = first_reached(curve, target, time_key="train_seconds") if target is not None else None
    values = [float(r[metric]) for r in curve if r.get(metric) is not None]
    best = None
    if values:
        best = max(values) if metric_direction(metric) == "max" else min(values)
    train_key = "train_" + metric.removeprefix("val_")
    gap = final[train_key] - final[metric] if metric in final and train_key in final else None
    seconds = float(cell["train_seconds"])
    memory = cell.get("memory", {})
    return {
        "size": cell["size"],
        "batch_size": int(cell["effective_batch"]),
        "seed": int(cell["seed"]),
        "lr": float(cell["lr"]),
        "batches_per_epoch": int(cell["batches_per_epoch"]),
        "steps": int(cell["steps"]),
        "reached": hit is not None if target is not None else None,
        "steps_to_target": hit.step if hit else None,
        "samples_to_target": hit.samples if hit else None,
        "epochs_to_target": hit.samples / train_samples if hit else None,
        "seconds_to_target": hit.seconds if hit else None,
        "wall_seconds_to_target": float(curve[hit.index]["seconds"]) if hit else None,
        "final": final.get(metric),
        "best": best,
        "gap": gap,
        "samples_per_second": int(cell["samples"]) / seconds if seconds > 0 else None,
        "epoch_seconds": seconds / float(cell["epochs"]) if float(cell["epochs"]) > 0 else None,
        "peak_rss": memory.get("peak_rss"),
        "rss_growth": memory.get("rss_growth"),
        "cuda_peak": memory.get("cuda_peak"),
    }


_AVERAGED = (
    "steps_to_target",
    "samples_to_target",
    "epochs_to_target",
    "seconds_to_target",
    "wall_seconds_to_target",
    "final",
    "best",
    "gap",
    "samples_per_second",
    "epoch_seconds",
    "peak_rss",
    "rss_growth",
    "cuda_peak",
)


def size_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per batch size: ``size``, ``batch_size``, ``seeds``, ``reached`` (seeds that met the target),
    ``batches_per_epoch``, ``steps``, ``lr``, and ``<name>_mean`` / ``<name>_std`` for the averaged columns
    (over the seeds that have a value; std is 0 for one seed).
    """
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["batch_size"], []).append(row)
    summary = []
    for batch_size in sorted(groups):
        group = groups[batch_size]
        entry: dict[str, Any] = {
            "size": group[0]["size"],
            "batch_size": batch_size,
            "seeds": len(group),
            "reached": sum(1 for r in group if r["reached"]) if group[0]["reached"] is not None else None,
            "batches_per_epoch": group[0]["batches_per_epoch"],
            "steps": group[0]["steps"],
            "lr": group[0]["lr"],
        }
        for name in _AVERAGED:
            values = [float(r[name]) for r in group if r.get(name) is not None]
            entry[f"{name}_mean"] = statistics.fmean(values) if values else None
            entry[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)
        summary.append(entry)
    return summary


def analyze_study(
    cells: Sequence[dict[str, Any]], target: Target | None, noise: dict[str, Any] | None = None
) -> StudyAnalysis:
    """Rows, per-size summary, critical-batch fit and conclusions of a study's finished cells.

    Args:
        cells: finished cell records.
        target: what to measure steps to (``None``: final metrics only).
        noise: a noise-scale summary (``b_simple_at_target``, ``b_simple_final``, ``batch_size``) to compare
            with the fitted critical batch size.
    """
    metric = main_metric(cells, target)
    rows = [cell_row(c, metric, target) for c in cells]
    summary = size_summary(rows)
    fit, seed_fits = None, []
    if target is not None:
        fit = _fit(rows, summary)
        for seed in sorted({r["seed"] for r in rows}):
            seed_fit = _fit([r for r in rows if r["seed"] == seed], None)
            if seed_fit.status != "insufficient":
                seed_fits.append(seed_fit)
    conclusions = _conclusions(summary, metric, target, fit, seed_fits, noise)
    return StudyAnalysis(metric, target, rows, summary, fit, seed_fits, conclusions)


def _fit(rows: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]] | None) -> CriticalBatchFit:
    """Fit on the sizes where every seed reached the target (a size only some seeds reach would bias it)."""
    complete = None
    if summary is not None:
        complete = {s["batch_size"] for s in summary if s["reached"] == s["seeds"]}
    points = [
        (r["batch_size"], r["steps_to_target"])
        for r in rows
        if r["steps_to_target"] is not None and (complete is None or r["batch_size"] in complete)
    ]
    return fit_critical_batch([p[0] for p in points], [p[1] for p in points])


def _conclusions(
    summary: Sequence[dict[str, Any]],
    metric: str,
    target: Target | None,
    fit: CriticalBatchFit | None,
    seed_fits: Sequence[CriticalBatchFit],
    noise: dict[str, Any] | None,
) -> list[str]:
    lines: list[str] = []
    if not summary:
        return ["No finished cells yet."]
    if target is not None:
        done = [s for s in summary if s["reached"] == s["seeds"]]
        if not done:
            lines.append(f"No batch size reached {target} with every seed within the budget.")
        else:
            fastest = min(done, key=lambda s: s["seconds_to_target_mean"])
            lines.append(
                f"Fastest to {target} in wall time: batch {fastest['size']} "
                f"({_pm(fastest, 'seconds_to_target', '.2f')} s of training, evaluation excluded; "
                f"{_pm(fastest, 'steps_to_target', ',.0f')} steps)."
            )
            thrifty = min(done, key=lambda s: s["samples_to_target_mean"])
            lines.append(
                f"Fewest samples to {target}: batch {thrifty['size']} "
                f"({_pm(thrifty, 'samples_to_target', ',.0f')} samples, "
                f"{thrifty['epochs_to_target_mean']:.2f} epochs)."
            )
        partial = [s for s in summary if s["reached"] != s["seeds"]]
        if partial:
            text = ", ".join(f"{s['size']} ({s['reached']}/{counted(s['seeds'], 'seed')})" for s in partial)
            lines.append(f"Not reached by every seed within the budget: batch {text}.")
        if fit is not None:
            lines.append(_fit_sentence(fit, seed_fits))
    best = _best_final(summary, metric)
    if best is not None:
        lines.append(f"Best final {metric}: batch {best['size']} ({_pm(best, 'final', '.4f')}).")
    if noise and fit is not None and fit.status == "fit":
        lines.append(_noise_sentence(noise, fit))
    elif noise:
        value = noise.get("b_simple_at_target") or noise.get("b_simple_final")
        if value is not None:
            lines.append(f"Gradient noise scale B_simple ≈ {value:,.0f} samples (no fitted B_crit to compare with).")
    return lines


def _fit_sentence(fit: CriticalBatchFit, seed_fits: Sequence[CriticalBatchFit]) -> str:
    low, high = fit.size_range
    if fit.status == "insufficient":
        return "The critical batch size needs steps to the target at two or more batch sizes; there are fewer."
    if fit.status == "perfect_scaling":
        return (
            f"Steps to the target fell in proportion to 1/B over every size reached ({low:g}–{high:g}): "
            f"the knee (B_crit) lies above {high:g}; try larger batches."
        )
    if fit.status == "no_speedup":
        return (
            f"Steps to the target did not fall as the batch grew from {low:g} to {high:g}: "
            f"the knee (B_crit) lies below {low:g}; larger batches only cost samples."
        )
    spread = ""
    finite = sorted(f.b_crit for f in seed_fits if f.status == "fit")
    if len(finite) > 1:
        spread = f"; per-seed fits {finite[0]:,.0f}–{finite[-1]:,.0f}"
    where = "inside" if low <= fit.b_crit <= high else "outside"
    return (
        f"Knee of the steps-to-target curve: B_crit = E_min/S_min ≈ {fit.b_crit:,.0f} samples "
        f"(S_min {fit.s_min:,.0f} steps, E_min {fit.e_min:,.0f} samples; fit error {fit.rms_log_error:.0%} "
        f"rms{spread}; {where} the measured range {low:g}–{high:g}). Below it, doubling the batch nearly "
        f"halves the steps for the same samples; above it, steps fall more slowly and samples grow."
    )


def _noise_sentence(noise: dict[str, Any], fit: CriticalBatchFit) -> str:
    value = noise.get("b_simple_at_target")
    when = "when the target was reached"
    if value is None:
        value, when = noise.get("b_simple_final"), "at the end of training"
    if value is None or not math.isfinite(float(value)):
        return "The gradient noise scale could not be estimated (no finite B_simple)."
    ratio = float(value) / fit.b_crit
    return (
        f"Gradient noise scale B_simple ≈ {float(value):,.0f} samples {when} (run at batch "
        f"{noise.get('batch_size')}), against B_crit ≈ {fit.b_crit:,.0f} from the sweep: "
        f"ratio B_simple / B_crit = {ratio:.2f}."
    )


def _best_final(summary: Sequence[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    candidates = [s for s in summary if s["final_mean"] is not None]
    if not candidates:
        return None
    if metric_direction(metric) == "max":
        return max(candidates, key=lambda s: s["final_mean"])
    return min(candidates, key=lambda s: s["final_mean"])


def _pm(entry: dict[str, Any], name: str, spec: str) -> str:
    mean, std = entry.get(f"{name}_mean"), entry.get(f"{name}_std")
    if mean is None:
        return "-"
    if not std or entry.get("seeds", 1) < 2:
        return format(mean, spec)
    return f"{format(mean, spec)} ± {format(std, spec)}"
