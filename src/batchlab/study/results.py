"""From finished cells to answers: one row per cell, one per batch size (mean and std over seeds), the
critical-batch fit, and the conclusions in plain words.

Times are training seconds without evaluation (see :class:`batchlab.study.callbacks.StudyClock`); the
generalization gap is the final weights' training metric minus their validation metric, both measured in
evaluation mode after training.

A study is in samples or in tokens (text, batch sizes given as token budgets). In a token study the
amount of data is counted in **valid tokens** (the ``tokens`` column of ``metrics.csv``, padding excluded):
tokens to the target replace samples to the target, and the critical-batch fit relates steps to the
measured batch in valid tokens per optimizer step (``tokens / steps`` of each cell), so that ``E_min``,
``B_crit`` and the noise scale converted to tokens are in one unit. The budgets themselves count padded
tokens (``samples x longest <= budget``); the ratio of the two is the study's fill.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchlab.plural import counted
from batchlab.study.critical import CriticalBatchFit, fit_critical_batch
from batchlab.study.hessian_summary import hessian_line
from batchlab.study.schedule_results import schedule_sentences
from batchlab.study.sizes import SizeUnit
from batchlab.study.targets import Target, first_reached, metric_direction

__all__ = ["StudyAnalysis", "analyze_study", "cell_row", "main_metric", "size_summary", "study_unit"]


@dataclass(frozen=True)
class StudyAnalysis:
    """Everything the report shows.

    Attributes:
        metric: the validation metric compared across sizes (the target's, else accuracy / R² / loss).
        target: the target, or ``None``.
        rows: one dict per cell (see :func:`cell_row`).
        summary: one dict per batch size (see :func:`size_summary`).
        fit: the critical-batch fit of steps to target (``None`` without a target); in valid tokens per
            step for a token study.
        seed_fits: the same fit per seed (for its spread).
        conclusions: sentences for people.
        unit: ``samples`` or ``tokens``: the unit of the batch sizes, of the data to the target and of the fit.
    """

    metric: str
    target: Target | None
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    fit: CriticalBatchFit | None
    seed_fits: list[CriticalBatchFit]
    conclusions: list[str]
    unit: SizeUnit = "samples"

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
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


def study_unit(cells: Sequence[dict[str, Any]]) -> SizeUnit:
    """``tokens`` when the cells' batch sizes are token budgets, else ``samples``."""
    return "tokens" if any(c.get("unit") == "tokens" for c in cells) else "samples"


def cell_row(cell: dict[str, Any], metric: str, target: Target | None) -> dict[str, Any]:
    """One cell's table row.

    Keys: ``size``, ``unit``, ``batch_size`` (effective samples per step, or the token budget per step in a
    token study), ``step_batch`` (the batch per optimizer step in the study's unit, as fitted: samples, or
    the measured valid tokens per step), ``seed``, ``lr``, ``batches_per_epoch``, ``steps`` (total run),
    ``steps_to_target``, ``samples_to_target``, ``tokens_to_target`` (text), ``epochs_to_target``,
    ``seconds_to_target`` (training seconds), ``wall_seconds_to_target`` (with evaluation), ``final``,
    ``best``, ``gap`` (train − validation of the final weights), ``samples_per_second``,
    ``tokens_per_second`` (text), ``epoch_seconds``, ``peak_rss`` / ``rss_growth`` / ``cuda_peak`` (bytes).
    Values that do not apply are ``None``.
    """
    curve = cell.get("curve", [])
    final = cell.get("final", {})
    epoch_samples = int(cell.get("epoch_samples") or cell["train_samples"])
    unit: SizeUnit = "tokens" if cell.get("unit") == "tokens" else "samples"
    tokens = cell.get("tokens")
    tokens_per_step = cell.get("tokens_per_step")
    hit = first_reached(curve, target, time_key="train_seconds") if target is not None else None
    values = [float(r[metric]) for r in curve if r.get(metric) is not None]
    best = None
    if values:
        best = max(values) if metric_direction(metric) == "max" else min(values)
    train_key = "train_" + metric.removeprefix("val_")
    gap = final[train_key] - final[metric] if metric in final and train_key in final else None
    seconds = float(cell["train_seconds"])
    memory = cell.get("memory", {})
    schedule = cell.get("schedule")
    return {
        "size": cell["size"],
        "unit": unit,
        "schedule": schedule,
        "final_batch": cell.get("final_batch"),
        "schedule_end": cell.get("schedule_end"),
        "batch_size": int(cell["token_budget"]) if unit == "tokens" else int(cell["effective_batch"]),
        # A schedule has no one batch per step: it stays out of the critical-batch fit.
        "step_batch": None if schedule else tokens_per_step if unit == "tokens" else int(cell["effective_batch"]),
        "tokens_per_step": tokens_per_step,
        "seed": int(cell["seed"]),
        "lr": float(cell["lr"]),
        "batches_per_epoch": int(cell["batches_per_epoch"]),
        "steps": int(cell["steps"]),
        "reached": hit is not None if target is not None else None,
        "steps_to_target": hit.step if hit else None,
        "samples_to_target": hit.samples if hit else None,
        "tokens_to_target": hit.tokens if hit else None,
        "epochs_to_target": hit.samples / epoch_samples if hit else None,
        "seconds_to_target": hit.seconds if hit else None,
        "wall_seconds_to_target": float(curve[hit.index]["seconds"]) if hit else None,
        "final": final.get(metric),
        "best": best,
        "gap": gap,
        "samples_per_second": int(cell["samples"]) / seconds if seconds > 0 else None,
        "tokens_per_second": int(tokens) / seconds if tokens is not None and seconds > 0 else None,
        "epoch_seconds": seconds / float(cell["epochs"]) if float(cell["epochs"]) > 0 else None,
        "peak_rss": memory.get("peak_rss"),
        "rss_growth": memory.get("rss_growth"),
        "cuda_peak": memory.get("cuda_peak"),
    }


_AVERAGED = (
    "step_batch",
    "tokens_per_step",
    "steps_to_target",
    "samples_to_target",
    "tokens_to_target",
    "epochs_to_target",
    "seconds_to_target",
    "wall_seconds_to_target",
    "final",
    "best",
    "gap",
    "samples_per_second",
    "tokens_per_second",
    "epoch_seconds",
    "peak_rss",
    "rss_growth",
    "cuda_peak",
)


def size_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per batch size: ``size``, ``unit``, ``batch_size``, ``seeds``, ``reached`` (seeds that met the target),
    ``batches_per_epoch``, ``steps``, ``lr``, and ``<name>_mean`` / ``<name>_std`` for the averaged columns
    (over the seeds that have a value; std is 0 for one seed).
    """
    groups: dict[tuple[bool, int, str], list[dict[str, Any]]] = {}
    for row in rows:  # fixed sizes by size, then schedules (which start at some fixed size)
        groups.setdefault((bool(row.get("schedule")), row["batch_size"], str(row["size"])), []).append(row)
    summary = []
    for key in sorted(groups):
        group, batch_size = groups[key], key[1]
        entry: dict[str, Any] = {
            "size": group[0]["size"],
            "unit": group[0].get("unit", "samples"),
            "schedule": group[0].get("schedule"),
            "final_batch": group[0].get("final_batch"),
            "schedule_end": group[0].get("schedule_end"),
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
        noise: a noise-scale summary (``b_simple_at_target``, ``b_simple_final``, ``batch_size``, and for
            text their ``*_tokens`` versions) to compare with the fitted critical batch size.
    """
    metric = main_metric(cells, target)
    unit = study_unit(cells)
    rows = [cell_row(c, metric, target) for c in cells]
    summary = size_summary(rows)
    fit, seed_fits = None, []
    if target is not None:
        fit = _fit(rows, summary)
        for seed in sorted({r["seed"] for r in rows}):
            seed_fit = _fit([r for r in rows if r["seed"] == seed], None)
            if seed_fit.status != "insufficient":
                seed_fits.append(seed_fit)
    conclusions = _conclusions(summary, metric, target, fit, seed_fits, noise, unit)
    return StudyAnalysis(metric, target, rows, summary, fit, seed_fits, conclusions, unit)


def _fit(rows: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]] | None) -> CriticalBatchFit:
    """Fit on the sizes where every seed reached the target (a size only some seeds reach would bias it).

    Each point is the cell's batch per optimizer step in the study's unit (``step_batch``) and its steps.
    """
    complete = None
    if summary is not None:
        complete = {s["batch_size"] for s in summary if s["reached"] == s["seeds"] and not s.get("schedule")}
    points = [
        (float(r["step_batch"]), r["steps_to_target"])
        for r in rows
        if r["steps_to_target"] is not None
        and r["step_batch"] is not None
        and (complete is None or r["batch_size"] in complete)
    ]
    return fit_critical_batch([p[0] for p in points], [p[1] for p in points])


def _conclusions(
    summary: Sequence[dict[str, Any]],
    metric: str,
    target: Target | None,
    fit: CriticalBatchFit | None,
    seed_fits: Sequence[CriticalBatchFit],
    noise: dict[str, Any] | None,
    unit: SizeUnit = "samples",
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
            lines.append(_thriftiest(done, target, unit))
        partial = [s for s in summary if s["reached"] != s["seeds"]]
        if partial:
            text = ", ".join(f"{s['size']} ({s['reached']}/{counted(s['seeds'], 'seed')})" for s in partial)
            lines.append(f"Not reached by every seed within the budget: batch {text}.")
        if fit is not None:
            fixed = [s for s in summary if not s.get("schedule")]
            lines.append(_fit_sentence(fit, seed_fits, unit, _fill(fixed) if unit == "tokens" else None))
        lines += schedule_sentences(summary, target)
    best = _best_final(summary, metric)
    if best is not None:
        lines.append(f"Best final {metric}: batch {best['size']} ({_pm(best, 'final', '.4f')}).")
    b_simple = _noise_value(noise, unit) if noise else None
    fitted = fit is not None and fit.status == "fit"
    if noise and fit is not None and fitted:
        lines.append(_noise_sentence(noise, fit, unit))
    elif noise and b_simple is not None:
        lines.append(
            f"Gradient noise scale B_simple ≈ {b_simple[0]:,.0f} {_unit_name(unit)} (no fitted B_crit to compare with)."
        )
    hessian = hessian_line(noise.get("hessian") if noise else None, fit.b_crit if fit and fitted else None, unit)
    if hessian:
        lines.append(hessian)
    return lines


def _thriftiest(done: Sequence[dict[str, Any]], target: Target, unit: SizeUnit) -> str:
    """The size that needed the least data to the target: tokens in a token study, else samples."""
    if unit == "tokens" and all(s["tokens_to_target_mean"] is not None for s in done):
        thrifty = min(done, key=lambda s: s["tokens_to_target_mean"])
        return (
            f"Fewest tokens to {target}: batch {thrifty['size']} "
            f"({_pm(thrifty, 'tokens_to_target', ',.0f')} valid tokens, "
            f"{_pm(thrifty, 'samples_to_target', ',.0f')} samples, {thrifty['epochs_to_target_mean']:.2f} epochs)."
        )
    thrifty = min(done, key=lambda s: s["samples_to_target_mean"])
    tokens = ""
    if thrifty.get("tokens_to_target_mean") is not None:
        tokens = f", {_pm(thrifty, 'tokens_to_target', ',.0f')} tokens"
    return (
        f"Fewest samples to {target}: batch {thrifty['size']} "
        f"({_pm(thrifty, 'samples_to_target', ',.0f')} samples{tokens}, "
        f"{thrifty['epochs_to_target_mean']:.2f} epochs)."
    )


def _fill(summary: Sequence[dict[str, Any]]) -> float | None:
    """Median over sizes of measured valid tokens per step / token budget (padding and unused room)."""
    ratios = [
        s["tokens_per_step_mean"] / s["batch_size"]
        for s in summary
        if s.get("tokens_per_step_mean") and s["batch_size"] and s["size"] != "full"
    ]
    return statistics.median(ratios) if ratios else None


def _unit_name(unit: SizeUnit) -> str:
    return "valid tokens" if unit == "tokens" else "samples"


def _fit_sentence(
    fit: CriticalBatchFit, seed_fits: Sequence[CriticalBatchFit], unit: SizeUnit = "samples", fill: float | None = None
) -> str:
    low, high = fit.size_range
    per = " valid tokens per step" if unit == "tokens" else ""
    if fit.status == "insufficient":
        return "The critical batch size needs steps to the target at two or more batch sizes; there are fewer."
    if fit.status == "perfect_scaling":
        return (
            f"Steps to the target fell in proportion to 1/B over every size reached ({low:,.0f}–{high:,.0f}{per}): "
            f"the knee (B_crit) lies above {high:,.0f}; try larger batches."
        )
    if fit.status == "no_speedup":
        return (
            f"Steps to the target did not fall as the batch grew from {low:,.0f} to {high:,.0f}{per}: "
            f"the knee (B_crit) lies below {low:,.0f}; larger batches only cost {_unit_name(unit)}."
        )
    spread = ""
    finite = sorted(f.b_crit for f in seed_fits if f.status == "fit")
    if len(finite) > 1:
        spread = f"; per-seed fits {finite[0]:,.0f}–{finite[-1]:,.0f}"
    where = "inside" if low <= fit.b_crit <= high else "outside"
    name = _unit_name(unit)
    budget = ""
    if unit == "tokens" and fill:
        budget = (
            f" That is a token budget of about {fit.b_crit / fill:,.0f} (batch_size: "
            f'"{round(fit.b_crit / fill)}tokens"): the budgets count padded tokens, and this study\'s batches '
            f"held {fill:.0%} of their budget in valid tokens."
        )
    return (
        f"Knee of the steps-to-target curve: B_crit = E_min/S_min ≈ {fit.b_crit:,.0f} {name} "
        f"(S_min {fit.s_min:,.0f} steps, E_min {fit.e_min:,.0f} {name}; fit error {fit.rms_log_error:.0%} "
        f"rms{spread}; {where} the measured range {low:,.0f}–{high:,.0f}{per}). Below it, doubling the batch "
        f"nearly halves the steps for the same {name}; above it, steps fall more slowly and {name} grow.{budget}"
    )


def _noise_value(noise: dict[str, Any], unit: SizeUnit) -> tuple[float, str] | None:
    """``B_simple`` in the study's unit, at the target when known, else at the end; and when."""
    suffix = "_tokens" if unit == "tokens" else ""
    for key, when in (("b_simple_at_target", "when the target was reached"), ("b_simple_final", "at the end")):
        value = noise.get(key + suffix)
        if value is not None and math.isfinite(float(value)):
            return float(value), when
    return None


def _noise_sentence(noise: dict[str, Any], fit: CriticalBatchFit, unit: SizeUnit = "samples") -> str:
    found = _noise_value(noise, unit)
    if found is None:
        if unit == "tokens":
            return (
                "The gradient noise scale has no value in tokens to compare with the token knee "
                "(measure it on this text config with batchlab study noise-scale)."
            )
        return "The gradient noise scale could not be estimated (no finite B_simple)."
    value, when = found
    if when == "at the end":
        when = "at the end of training"
    ratio = value / fit.b_crit
    conversion = ""
    if unit == "tokens":
        samples = noise.get("b_simple_at_target") if "target" in when else noise.get("b_simple_final")
        conversion = (
            f" ({samples:,.0f} samples x {noise.get('tokens_per_sample'):.1f} valid tokens per sample)"
            if samples is not None and noise.get("tokens_per_sample")
            else ""
        )
    batch = f"{noise['token_budget']}tokens" if noise.get("token_budget") else noise.get("batch_size")
    return (
        f"Gradient noise scale B_simple ≈ {value:,.0f} {_unit_name(unit)}{conversion} {when} (run at batch "
        f"{batch}), against B_crit ≈ {fit.b_crit:,.0f} from the sweep: "
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
