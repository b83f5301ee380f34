"""Plots of a batch-size study (PNG): steps and samples to the target, time to the target, final metric,
learning curves of every size, throughput and memory, and the gradient noise scale over training.

In a token study the x axis is the measured batch in valid tokens per optimizer step (the quantity the
critical-batch fit uses), each tick naming its token budget; data is counted in valid tokens.

matplotlib is imported inside each function, so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from batchlab.study.results import StudyAnalysis

__all__ = [
    "noise_scale_figure",
    "plot_final_metric",
    "plot_learning_curves_by_size",
    "plot_noise_scale",
    "plot_schedules",
    "plot_steps_to_target",
    "plot_study",
    "plot_throughput_memory",
    "plot_time_to_target",
    "steps_to_target_figure",
]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: str | Path) -> Path:
    plt = _pyplot()
    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return path


def _size_axis(ax: Axes, summary: Sequence[dict[str, Any]]) -> None:
    """Log-scale x axis with a tick at each batch size, labelled ``full`` where it is the whole split.

    Sizes in samples sit at their size; token budgets at their measured valid tokens per step, labelled
    with the budget."""
    ax.set_xscale("log")
    ax.set_xticks([_x(s) for s in summary])
    tokens = _in_tokens(summary)
    labels = []
    for s in summary:
        name = "full" if s["size"] == "full" else str(s["size"]).removesuffix("tokens")
        if tokens:
            labels.append(f"{name}\n≈{_x(s):,.0f}")
        else:
            labels.append(f"{s['batch_size']}\n(full)" if s["size"] == "full" else str(s["batch_size"]))
    ax.set_xticklabels(labels)
    # Only the x axis loses its minor ticks: a log y axis spanning less than a decade has no major tick,
    # and its minor ticks carry its only numbers (samples to target often vary by less than 10x).
    ax.xaxis.set_minor_locator(_null_locator())
    if tokens:
        ax.set_xlabel("batch: token budget / ≈ valid tokens per step")
    else:
        ax.set_xlabel("batch size (samples per step)")
    ax.grid(alpha=0.3, which="both")


def _in_tokens(entries: Sequence[dict[str, Any]]) -> bool:
    return any(e.get("unit") == "tokens" for e in entries)


def _x(entry: dict[str, Any]) -> float:
    """Where a summary entry or a row sits on the batch axis: its batch per step in the study's unit."""
    value = entry.get("step_batch_mean", entry.get("step_batch"))
    return float(value) if value else float(entry["batch_size"])


def plot_steps_to_target(analysis: StudyAnalysis, path: str | Path) -> Path | None:
    """Draw :func:`steps_to_target_figure` into ``path``; ``None`` (nothing written) when no size reached
    the target."""
    fig = steps_to_target_figure(analysis)
    return _save(fig, path) if fig is not None else None


def steps_to_target_figure(analysis: StudyAnalysis) -> Figure | None:
    """Steps and samples (valid tokens in a token study) to the target against batch size (log-log), each
    seed and the mean, with the perfect-scaling line (steps ∝ 1/B from the smallest size) and the fitted
    McCandlish curve.

    Returns:
        The figure, or ``None`` when no size reached the target.
    """
    reached = [r for r in analysis.rows if r["steps_to_target"] is not None]
    summary = [s for s in analysis.summary if s["steps_to_target_mean"] is not None]
    if not reached or analysis.target is None:
        return None
    tokens = analysis.unit == "tokens"
    data_key, data_name = ("tokens_to_target", "valid tokens") if tokens else ("samples_to_target", "samples")
    reached = [r for r in reached if r[data_key] is not None]
    summary = [s for s in summary if s[f"{data_key}_mean"] is not None]
    if not reached or not summary:
        return None
    plt = _pyplot()
    fig: Figure
    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = [_x(s) for s in summary]
    for ax, key, label in ((ax_s, "steps_to_target", "steps"), (ax_e, data_key, data_name)):
        ax.scatter([_x(r) for r in reached], [r[key] for r in reached], s=14, alpha=0.45, label="each seed")
        ax.errorbar(
            sizes,
            [s[f"{key}_mean"] for s in summary],
            yerr=[s[f"{key}_std"] or 0.0 for s in summary],
            fmt="o-",
            color="tab:blue",
            capsize=3,
            label="mean ± std",
        )
        ax.set_yscale("log")
        ax.set_ylabel(f"{label} to {analysis.target}")
        _size_axis(ax, analysis.summary)
    first = summary[0]
    grid = _log_grid(min(sizes), max(sizes))
    s0, b0 = first["steps_to_target_mean"], _x(first)
    ax_s.plot(grid, [s0 * b0 / b for b in grid], "--", color="gray", label="perfect scaling (steps ∝ 1/B)")
    ax_e.plot(grid, [s0 * b0 for _ in grid], "--", color="gray", label=f"perfect scaling (same {data_name})")
    fit = analysis.fit
    if fit is not None and fit.status in ("fit", "perfect_scaling", "no_speedup"):
        ax_s.plot(grid, [fit.s_min + fit.e_min / b for b in grid], "-", color="tab:red", label="fit S_min + E_min/B")
        ax_e.plot(grid, [fit.e_min + fit.s_min * b for b in grid], "-", color="tab:red", label="fit E_min + S_min·B")
        if fit.status == "fit" and math.isfinite(fit.b_crit):
            for ax in (ax_s, ax_e):
                ax.axvline(fit.b_crit, color="tab:red", linestyle=":", label=f"B_crit ≈ {fit.b_crit:,.0f}")
    for ax in (ax_s, ax_e):
        ax.legend(fontsize=7)
    fig.suptitle(f"Steps and {data_name} to the target (McCandlish et al. 2018)")
    return fig


def plot_time_to_target(analysis: StudyAnalysis, path: str | Path) -> Path | None:
    """Training seconds to the target against batch size (mean ± std over seeds)."""
    summary = [s for s in analysis.summary if s["seconds_to_target_mean"] is not None]
    if not summary or analysis.target is None:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(
        [_x(s) for s in summary],
        [s["seconds_to_target_mean"] for s in summary],
        yerr=[s["seconds_to_target_std"] or 0.0 for s in summary],
        fmt="o-",
        capsize=3,
    )
    ax.set_yscale("log")
    ax.set_ylabel(f"training seconds to {analysis.target}")
    _size_axis(ax, analysis.summary)
    ax.set_title("Wall time to the target (evaluation excluded)")
    return _save(fig, path)


def plot_final_metric(analysis: StudyAnalysis, path: str | Path) -> Path | None:
    """Final and best validation metric against batch size, with std over seeds as error bars."""
    summary = [s for s in analysis.summary if s["final_mean"] is not None]
    if not summary:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = [_x(s) for s in summary]
    for key, label, style in (("final", "final", "o-"), ("best", "best during training", "s--")):
        ax.errorbar(
            sizes,
            [s[f"{key}_mean"] for s in summary],
            yerr=[s[f"{key}_std"] or 0.0 for s in summary],
            fmt=style,
            capsize=3,
            label=label,
        )
    if analysis.target is not None and analysis.target.metric == analysis.metric:
        ax.axhline(analysis.target.value, color="gray", linestyle=":", label=f"target {analysis.target.value:g}")
    ax.set_ylabel(analysis.metric)
    _size_axis(ax, analysis.summary)
    ax.legend(fontsize=8)
    ax.set_title(f"{analysis.metric} by batch size (mean ± std over seeds)")
    return _save(fig, path)


def plot_learning_curves_by_size(
    cells: Sequence[dict[str, Any]], analysis: StudyAnalysis, path: str | Path
) -> Path | None:
    """The validation metric of every cell against steps, samples (valid tokens in a token study) and
    training seconds (log x), one colour per batch size, one line per seed."""
    if not cells:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    tokens = analysis.unit == "tokens"

    def size_of(cell: dict[str, Any]) -> int:
        return int(cell.get("token_budget") or 0) if tokens else int(cell["effective_batch"])

    sizes = sorted({size_of(c) for c in cells})
    cmap = plt.get_cmap("viridis")
    colours = {b: cmap(i / max(1, len(sizes) - 1)) for i, b in enumerate(sizes)}
    labelled: set[int] = set()
    metric = analysis.metric
    data_key = "tokens" if tokens else "samples"
    for cell in cells:
        rows = [r for r in cell.get("curve", []) if r.get(metric) is not None and r.get(data_key) is not None]
        if not rows:
            continue
        b = size_of(cell)
        label = None if b in labelled else ("full" if cell["size"] == "full" else f"B={cell['size']}")
        labelled.add(b)
        values = [float(r[metric]) for r in rows]
        for ax, key in zip(axes, ("step", data_key, "train_seconds"), strict=True):
            xs = [max(float(r[key]), 1e-3) for r in rows]
            ax.plot(xs, values, color=colours[b], alpha=0.75, linewidth=1.1, label=label)
    data_name = "training tokens (valid)" if tokens else "training samples"
    for ax, name in zip(axes, ("optimizer steps", data_name, "training seconds"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if analysis.target is not None and analysis.target.metric == metric:
            ax.axhline(analysis.target.value, color="gray", linestyle=":")
    axes[0].legend(fontsize=7, title="batch size")
    fig.suptitle(f"Learning curves: {metric} against steps, {'tokens' if tokens else 'samples'} and seconds")
    return _save(fig, path)


def plot_throughput_memory(analysis: StudyAnalysis, path: str | Path) -> Path | None:
    """Training throughput (samples/s, valid tokens/s in a token study) and peak memory (RSS, and CUDA where
    used) against batch size."""
    rate = "tokens_per_second" if analysis.unit == "tokens" else "samples_per_second"
    summary = [s for s in analysis.summary if s[f"{rate}_mean"] is not None]
    if not summary:
        return None
    plt = _pyplot()
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    sizes = [_x(s) for s in summary]
    ax_t.errorbar(
        sizes,
        [s[f"{rate}_mean"] for s in summary],
        yerr=[s[f"{rate}_std"] or 0.0 for s in summary],
        fmt="o-",
        capsize=3,
    )
    ax_t.set_yscale("log")
    ax_t.set_ylabel("training valid tokens per second" if analysis.unit == "tokens" else "training samples per second")
    ax_t.set_title("Throughput")
    _size_axis(ax_t, analysis.summary)
    mib = 2.0**20
    for key, label in (("peak_rss", "peak RSS of the process"), ("rss_growth", "RSS growth during the run")):
        values = [(_x(s), s[f"{key}_mean"]) for s in summary if s[f"{key}_mean"] is not None]
        if values:
            ax_m.plot([v[0] for v in values], [v[1] / mib for v in values], "o-", label=label)
    cuda = [(_x(s), s["cuda_peak_mean"]) for s in summary if s["cuda_peak_mean"] is not None]
    if cuda:
        ax_m.plot([v[0] for v in cuda], [v[1] / mib for v in cuda], "s-", label="CUDA max allocated")
    ax_m.set_ylabel("MiB")
    ax_m.set_title("Peak memory")
    ax_m.legend(fontsize=8)
    _size_axis(ax_m, analysis.summary)
    return _save(fig, path)


def plot_noise_scale(
    noise: dict[str, Any],
    path: str | Path,
    *,
    b_crit: float | None = None,
    target_step: int | None = None,
    tokens_per_sample: float | None = None,
) -> Path | None:
    """Draw :func:`noise_scale_figure` into ``path``; ``None`` (nothing written) without measurements."""
    fig = noise_scale_figure(noise, b_crit=b_crit, target_step=target_step, tokens_per_sample=tokens_per_sample)
    return _save(fig, path) if fig is not None else None


def noise_scale_figure(
    noise: dict[str, Any],
    *,
    b_crit: float | None = None,
    target_step: int | None = None,
    tokens_per_sample: float | None = None,
) -> Figure | None:
    """``B_simple`` over training, each measurement's own ratio faintly, the sweep's ``B_crit`` and the step
    at which the target was reached when known.

    The line is what the estimator reports: the ratio of the exponential moving averages of ``tr(Sigma)``
    and ``|G|^2`` (decay ``ema`` per measurement), not an average of the single-measurement ratios (the
    dots, which scatter widely and can be negative: those are left out of the log scale).

    Args:
        noise: the content of ``noise_scale.json``.
        b_crit: the critical batch size fitted by a sweep, in samples (in valid tokens with
            ``tokens_per_sample``).
        target_step: the optimizer step at which the target was first reached.
        tokens_per_sample: valid tokens per measured sample (text compared with a token study's knee):
            the values are then drawn in valid tokens, ``B_simple x tokens_per_sample``.

    Returns:
        The figure, or ``None`` when there is no finite measurement.
    """
    measurements = [m for m in noise.get("measurements", []) if m.get("noise_scale") is not None]
    if not measurements:
        return None
    if tokens_per_sample:
        # Scaling tr(Sigma) scales each measurement's ratio and the averaged B_simple alike.
        scale = tokens_per_sample
        measurements = [
            {**m, "noise_scale": m["noise_scale"] * scale, "trace": (m.get("trace") or 0) * scale} for m in measurements
        ]
    plt = _pyplot()
    fig: Figure
    fig, ax = plt.subplots(figsize=(7, 4.2))
    steps = [m["step"] for m in measurements]
    raw = [
        (m["step"], m["trace"] / m["grad_sq"])
        for m in measurements
        if m.get("grad_sq") and m.get("trace") is not None and m["grad_sq"] > 0 and m["trace"] > 0
    ]
    if raw:
        one = "tr(Σ) / |G|² of one measurement"
        ax.scatter([r[0] for r in raw], [r[1] for r in raw], s=8, alpha=0.3, color="gray", label=one)
    decay = noise.get("ema")
    ax.plot(
        steps,
        [m["noise_scale"] for m in measurements],
        "-",
        color="tab:blue",
        label="B_simple = EMA tr(Σ) / EMA |G|²" + (f" (decay {decay:g})" if isinstance(decay, (int, float)) else ""),
    )
    _draw_hessian(ax, noise, tokens_per_sample or 1.0)
    if b_crit is not None and math.isfinite(b_crit):
        ax.axhline(b_crit, color="tab:red", linestyle="--", label=f"B_crit from the sweep ≈ {b_crit:,.0f}")
    if target_step is not None:
        ax.axvline(target_step, color="tab:green", linestyle=":", label=f"target reached (step {target_step})")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(f"valid tokens ({tokens_per_sample:.1f} per sample)" if tokens_per_sample else "samples")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(
        f"Gradient noise scale at batch {_noise_batch(noise)} "
        f"({noise.get('micro_batches')} x {noise.get('b_small')} samples per measurement)"
    )
    return fig


def _draw_hessian(ax: Any, noise: dict[str, Any], scale: float) -> None:
    """The Hessian-aware measurements (``--hessian``): per-example ``B_simple`` and ``B_noise`` with their
    intervals, ``scale`` converting samples to the plot's unit."""
    measured = [m for m in (noise.get("hessian") or {}).get("measurements", []) if isinstance(m, dict)]
    styles = {"b_simple": ("tab:purple", "s", "B_simple, per-example"), "b_noise": ("tab:orange", "D", "B_noise")}
    for key, (color, marker, label) in styles.items():
        points = [(m["step"], m[key], (m.get("intervals") or {}).get(key) or [None, None]) for m in measured]
        points = [(s, v, b) for s, v, b in points if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]
        if not points:
            continue
        values = [v * scale for _, v, _ in points]
        # A missing bound (infinite in JSON) or a point outside its percentile interval draws no bar that side.
        low = [
            max(0.0, v - b[0] * scale) if isinstance(b[0], (int, float)) else 0.0
            for v, (_, _, b) in zip(values, points, strict=True)
        ]
        high = [
            max(0.0, b[1] * scale - v) if isinstance(b[1], (int, float)) else 0.0
            for v, (_, _, b) in zip(values, points, strict=True)
        ]
        ax.errorbar(
            [p[0] for p in points],
            values,
            yerr=[low, high],
            fmt=marker,
            color=color,
            markersize=5,
            capsize=3,
            label=f"{label} (90% interval)",
        )


def _noise_batch(noise: dict[str, Any]) -> str:
    """The noise-scale run's batch size: its token budget, or its samples."""
    return f"{noise['token_budget']}tokens" if noise.get("token_budget") else str(noise.get("batch_size"))


def plot_study(analysis: StudyAnalysis, cells: Sequence[dict[str, Any]], directory: str | Path) -> list[Path]:
    """Draw every sweep plot that has data into ``directory``; return the written paths.

    The plots against the batch size show the fixed sizes; schedule cells get their own plot.
    """
    directory = Path(directory)
    fixed = dataclasses.replace(analysis, summary=[s for s in analysis.summary if not s.get("schedule")])
    fixed_cells = [c for c in cells if not c.get("schedule")]
    drawn = [
        plot_steps_to_target(fixed, directory / "steps_to_target.png"),
        plot_time_to_target(fixed, directory / "time_to_target.png"),
        plot_final_metric(fixed, directory / "final_metric.png"),
        plot_learning_curves_by_size(fixed_cells, fixed, directory / "learning_curves.png"),
        plot_throughput_memory(fixed, directory / "throughput_memory.png"),
        plot_schedules(analysis, cells, directory / "schedules.png"),
    ]
    return [p for p in drawn if p is not None]


def plot_schedules(analysis: StudyAnalysis, cells: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Schedule cells against the fixed sizes: steps against samples to the target (the Pareto front of the
    sweep; lower left is better), and each schedule's batch size against the samples seen."""
    schedules = [s for s in analysis.summary if s.get("schedule")]
    if not schedules:
        return None
    plt = _pyplot()
    fig, (front, growth) = plt.subplots(1, 2, figsize=(12, 4.5))
    fixed = [s for s in analysis.summary if not s.get("schedule") and s["steps_to_target_mean"] is not None]
    if fixed:
        front.plot(
            [s["samples_to_target_mean"] for s in fixed],
            [s["steps_to_target_mean"] for s in fixed],
            "o-",
            color="tab:blue",
            label="fixed batch sizes",
        )
        for s in fixed:
            front.annotate(str(s["size"]), (s["samples_to_target_mean"], s["steps_to_target_mean"]), fontsize=7)
    markers = iter("*^sDvP")
    for entry in schedules:
        if entry["steps_to_target_mean"] is None:
            continue
        front.plot(
            entry["samples_to_target_mean"],
            entry["steps_to_target_mean"],
            next(markers, "*"),
            markersize=11,
            label=str(entry["size"]),
        )
    front.set_xscale("log")
    front.set_yscale("log")
    front.set_xlabel("samples to target (mean over seeds)")
    front.set_ylabel("steps to target")
    front.grid(alpha=0.3, which="both")
    front.legend(fontsize=8)
    front.set_title(f"Steps and samples to {analysis.target}" if analysis.target else "Steps and samples")
    for cell in cells:
        changes = cell.get("batch_changes") or []
        if not changes:
            continue
        xs = [int(c["samples"]) for c in changes] + [int(cell["samples"])]
        ys = [int(c["size"]) for c in changes] + [int(changes[-1]["size"])]
        growth.step(xs, ys, where="post", alpha=0.8, label=f"{cell['size']} s{cell['seed']}")
    growth.set_yscale("log", base=2)
    growth.set_xlabel("training samples")
    growth.set_ylabel("batch size")
    growth.grid(alpha=0.3, which="both")
    growth.legend(fontsize=7)
    growth.set_title("Batch size during training")
    return _save(fig, path)


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _log_grid(low: float, high: float, points: int = 60) -> list[float]:
    if high <= low:
        return [low]
    a, b = math.log(low), math.log(high)
    return [math.exp(a + (b - a) * i / (points - 1)) for i in range(points)]
