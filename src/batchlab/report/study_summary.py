"""``batchlab report STUDY_DIR`` for a batch-size study: the table (terminal, CSV, JSON), the conclusions in
plain words, and the plots, all recomputed from the finished cells.

Files written into the study directory::

    results.csv    one row per cell (batch size, seed)
    summary.csv    one row per batch size: mean and std over seeds
    results.json   cells, summary, critical-batch fit, noise scale and conclusions
    noise_scale.csv  one row per noise-scale measurement, when the study has an estimate

A largest micro-batch found by ``batchlab study max-batch --study-dir`` (``max_batch.json``) is printed too.
    plots/         steps_to_target.png, time_to_target.png, final_metric.png, learning_curves.png,
                   throughput_memory.png, noise_scale.png
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from batchlab.atomic import write_text
from batchlab.plural import counted
from batchlab.report.study_plots import plot_learning_curves_by_size, plot_noise_scale, plot_study
from batchlab.study.directory import StudyDirectory
from batchlab.study.hessian_summary import hessian_line
from batchlab.study.max_batch import read_max_batch
from batchlab.study.noise_run import noise_cell, noise_summary, read_noise
from batchlab.study.results import StudyAnalysis, analyze_study
from batchlab.study.targets import Target

__all__ = ["max_batch_line", "report_batch_size_study", "study_table", "summary_csv_text"]

_MIB = 2.0**20


def report_batch_size_study(path: str | Path, console: Console) -> StudyAnalysis:
    """Print a study's table and conclusions, write its CSV/JSON results and redraw its plots.

    The cells of a batch-size study are its finished runs in ``runs/``. A noise-scale study (``batchlab
    study noise-scale`` in a directory of its own) has one cell, its run, and the estimate beside it.

    Args:
        path: the study directory (holds ``study.json``).
        console: where the table and conclusions go.

    Returns:
        The analysis that was printed.
    """
    directory = StudyDirectory(path)
    study = directory.read()
    target = Target(**study["target"]) if study.get("target") else None
    kind = study.get("kind", "batch-size")
    max_batch = read_max_batch(directory.path)
    if kind == "max-batch":
        console.print(f"[bold]{directory.path}[/bold]  max-batch study of {study.get('name')!r}")
        if max_batch is not None:
            console.print(max_batch_line(max_batch["result"]), soft_wrap=True)
        return analyze_study([], None)
    noise = read_noise(directory.path)
    noise_info = noise_summary(noise, target) if noise else None
    if kind == "noise-scale":
        run = noise_cell(noise) if noise is not None else None
        cells = [run] if run is not None else []
        what = counted(len(cells), "finished run")
        if run is not None:  # a token budget is shown as such, like the study's sizes
            what += (
                f" at batch {run['token_budget']}tokens"
                if run.get("token_budget")
                else f" at batch {run['effective_batch']}"
            )
    else:
        cells = directory.cells()
        expected = len(study.get("sizes", [])) * len(study.get("seeds", []))
        what = f"{len(cells)} of {counted(expected, 'cell')} finished"
    # A single noise-scale run has no fitted B_crit to compare with: its own line below says it all.
    analysis = analyze_study(cells, target, noise_info if kind != "noise-scale" else None)
    console.print(
        f"[bold]{directory.path}[/bold]  {kind} study of {study.get('name')!r}: {what}, "
        f"{counted(int(study.get('train_samples') or 0), 'training sample')}"
        + (f" ({counted(int(study['train_tokens']), 'token')})" if study.get("train_tokens") else "")
        + (", batch sizes in tokens" if study.get("unit") == "tokens" else "")
        + (f", target {target}" if target else "")
    )
    if cells:
        console.print(study_table(analysis))
    sweep = kind != "noise-scale"  # comparisons between batch sizes need a sweep
    for line in analysis.conclusions if cells and sweep else []:
        console.print(f"- {line}", soft_wrap=True)
    written = _write_results(directory, analysis, noise_info, noise.get("measurements", []) if noise else [])
    plots: list[Path] = []
    if cells and sweep:
        plots = plot_study(analysis, cells, directory.plots)
    elif cells:
        curves = plot_learning_curves_by_size(cells, analysis, directory.plots / "learning_curves.png")
        plots = [curves] if curves is not None else []
    if noise is not None:
        b_crit = analysis.fit.b_crit if analysis.fit is not None and analysis.fit.status == "fit" else None
        in_tokens = analysis.unit == "tokens" and noise_info is not None and noise_info.get("tokens_per_sample")
        drawn = plot_noise_scale(
            noise,
            directory.plots / "noise_scale.png",
            b_crit=b_crit,
            target_step=noise_info.get("target_step") if noise_info else None,
            tokens_per_sample=float(noise_info["tokens_per_sample"]) if in_tokens and noise_info else None,
        )
        if drawn is not None:
            plots.append(drawn)
        if noise_info is not None and kind == "noise-scale":
            console.print(_noise_line(noise_info, target), soft_wrap=True)
            hessian = hessian_line(noise_info.get("hessian"), unit=analysis.unit)
            if hessian:
                console.print(hessian, soft_wrap=True)
    if max_batch is not None:
        console.print(max_batch_line(max_batch["result"]), soft_wrap=True)
    console.print("Results: " + ", ".join(str(p) for p in written), soft_wrap=True)
    if plots:
        console.print("Plots: " + ", ".join(str(p) for p in plots), soft_wrap=True)
    return analysis


def study_table(analysis: StudyAnalysis) -> Table:
    """One row per batch size: batch count, steps, learning rate, to-target columns, final metric, gap,
    throughput, time per epoch and peak memory (mean ± std over seeds).

    A token study's batch column is the token budget (padded tokens per step) beside the measured valid
    tokens per step, and its data columns count valid tokens; a sample study on text adds tokens to the
    target beside samples."""
    tokens = analysis.unit == "tokens"
    with_tokens = any(s.get("tokens_to_target_mean") is not None for s in analysis.summary)
    unit = "token budget" if tokens else "batch size"
    table = Table(header_style="bold", show_edge=False, title=f"by {unit} (mean ± std over seeds; {analysis.metric})")
    columns = ["batch\n(tokens)", "valid\ntokens/step"] if tokens else ["batch"]
    columns += ["batches\n/epoch", "steps", "lr"]
    if analysis.target is not None:
        columns += ["reached", "steps\nto target"]
        if tokens:
            columns += ["tokens\nto target"]
        else:
            columns += ["samples\nto target"] + (["tokens\nto target"] if with_tokens else [])
        columns += ["epochs\nto target", "seconds\nto target"]
    columns += ["final", "best", "gap\ntrain-val", "tokens/s" if tokens else "samples/s", "seconds\n/epoch"]
    columns += ["peak RSS\nMiB"]
    for column in columns:
        table.add_column(column, justify="right")
    for s in analysis.summary:
        size = str(s["size"]).removesuffix("tokens")
        cells = [size if s["size"] != "full" else f"full ({s['batch_size']:,})"]
        if tokens:
            cells.append(_pm(s, "tokens_per_step", ",.0f", std=False))
        cells += [f"{s['batches_per_epoch']:,}", f"{s['steps']:,}", f"{s['lr']:.4g}"]
        if analysis.target is not None:
            cells += [f"{s['reached']}/{s['seeds']}", _pm(s, "steps_to_target", ",.0f")]
            if tokens:
                cells.append(_pm(s, "tokens_to_target", ",.0f"))
            else:
                cells.append(_pm(s, "samples_to_target", ",.0f"))
                if with_tokens:
                    cells.append(_pm(s, "tokens_to_target", ",.0f"))
            cells += [_pm(s, "epochs_to_target", ".2f"), _pm(s, "seconds_to_target", ".2f")]
        cells += [
            _pm(s, "final", ".4f"),
            _pm(s, "best", ".4f"),
            _pm(s, "gap", "+.4f"),
            _pm(s, "tokens_per_second" if tokens else "samples_per_second", ",.0f", std=False),
            _pm(s, "epoch_seconds", ".3f", std=False),
            _mib(s.get("peak_rss_mean")),
        ]
        table.add_row(*cells)
    return table


def summary_csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """CSV of dict rows, columns in first-seen order; ``None`` becomes an empty cell."""
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def _write_results(
    directory: StudyDirectory,
    analysis: StudyAnalysis,
    noise: dict[str, Any] | None,
    measurements: Sequence[dict[str, Any]],
) -> list[Path]:
    files = {
        "results.csv": summary_csv_text(analysis.rows),
        "summary.csv": summary_csv_text(analysis.summary),
        "results.json": json.dumps(_finite({**analysis.to_dict(), "noise_scale": noise}), indent=2) + "\n",
    }
    if measurements:
        files["noise_scale.csv"] = summary_csv_text([_measurement_row(m) for m in measurements])
    paths = []
    for name, text in files.items():
        write_text(directory.path / name, text)
        paths.append(directory.path / name)
    return paths


def max_batch_line(result: dict[str, Any]) -> str:
    """One sentence from a ``max_batch.json`` result: the largest micro-batch and the accumulation plan."""
    budget = f"{result['budget_bytes'] / _MIB:,.0f} MiB"
    best = int(result["max_micro_batch"])
    if best < 1:
        return f"Largest micro-batch: not even one sample fits in {budget} on {result.get('device')}."
    text = f"Largest micro-batch within {budget} on {result.get('device')}: {counted(best, 'sample')}"
    plan = result.get("plan")
    if plan:
        text += (
            f"; for an effective batch of {plan['effective_batch']:,}: micro-batch {plan['micro_batch']:,} x "
            f"accumulate {plan['accumulate']}"
        )
    return text + "."


def _measurement_row(measurement: dict[str, Any]) -> dict[str, Any]:
    """One noise-scale measurement: its own estimates and ``B_simple`` from their moving averages; on text
    also the valid tokens it measured and ``B_simple`` in valid tokens."""
    grad_sq, trace = measurement.get("grad_sq"), measurement.get("trace")
    numbers = isinstance(grad_sq, (int, float)) and isinstance(trace, (int, float))
    alone = trace / grad_sq if numbers and grad_sq else None
    row = {
        "step": measurement.get("step"),
        "samples": measurement.get("samples"),
        "grad_sq": grad_sq,
        "trace": trace,
        "ratio_of_this_measurement": alone,
        "b_simple_ratio_of_averages": measurement.get("noise_scale"),
    }
    if measurement.get("tokens") is not None:
        row["tokens"] = measurement["tokens"]
        row["b_simple_tokens"] = measurement.get("noise_scale_tokens")
    return row


def _noise_line(noise: dict[str, Any], target: Target | None) -> str:
    batch = f"{noise['token_budget']}tokens" if noise.get("token_budget") else noise.get("batch_size")
    parts = [f"Gradient noise scale at batch {batch}:"]
    if noise.get("b_simple_final") is not None:
        tokens = noise.get("b_simple_final_tokens")
        in_tokens = (
            f" = {tokens:,.0f} valid tokens ({noise['tokens_per_sample']:.1f} per sample)" if tokens is not None else ""
        )
        parts.append(f"B_simple ≈ {noise['b_simple_final']:,.0f} samples{in_tokens} at the end of training")
    if noise.get("b_simple_at_target") is not None:
        parts.append(
            f"{noise['b_simple_at_target']:,.0f} when {target} was first reached (step {noise['target_step']})"
        )
    if noise.get("b_simple_median_late") is not None:
        parts.append(f"median over the second half {noise['b_simple_median_late']:,.0f}")
    return " ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if len(parts) > 2 else "") + "."


def _pm(entry: dict[str, Any], name: str, spec: str, *, std: bool = True) -> str:
    mean, dev = entry.get(f"{name}_mean"), entry.get(f"{name}_std")
    if mean is None:
        return "-"
    if not std or not dev:
        return format(mean, spec)
    return f"{format(mean, spec)} ± {format(dev, spec.lstrip('+'))}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / _MIB:,.0f}"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
