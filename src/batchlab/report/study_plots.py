"""Plots of a batch-size study (PNG): steps and samples to the target, time to the target, final metric,
learning curves of every size, throughput and memory, and the gradient noise scale over training.

matplotlib is imported inside each function, so importing this module stays cheap.
"""

from __future__ import annotations

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
    """Log-scale x axis with a tick at each batch size, labelled ``full`` where it is the whole split."""
    ax.set_xscale("log")
    ticks = [s["batch_size"] for s in summary]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{s['batch_size']}\n(full)" if s["size"] == "full" else str(s["batch_size"]) for s in summary])
    # Only the x axis loses its minor ticks: a log y axis spanning less than a decade has no major tick,
    # and its minor ticks carry its only numbers (samples to target often vary by less than 10x).
    ax.xaxis.set_minor_locator(_null_locator())
    ax.set_xlabel("batch size (samples per step)")
    ax.grid(alpha=0.3, which="both")


def plot_steps_to_target(analysis: StudyAnalysis, path: str | Path) -> Path | None:
    """Draw :func:`steps_to_target_figure` into ``path``; ``None`` (nothing written) when no size reached
    the target."""
    fig = steps_to_target_figure(analysis)
    return _save(fig, path) if fig is not None else None


def steps_to_target_figure(analysis: StudyAnalysis) -> Figure | None:
    """Steps and samples to the target against batch size (log-log), each seed and the mean, with the
    perfect-scaling line (steps ∝ 1/B from the smallest size) and the fitted McCandlish curve.

    Returns:
        The figure, or ``None`` when no size reached the target.
    """
    reached = [r for r in analysis.rows if r["steps_to_target"] is not None]
    summary = [s for s in analysis.summary if s["steps_to_target_mean"] is not None]
    if not reached or analysis.target is None:
        return None
    plt = _pyplot()
    fig: Figure
    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = [s["batch_size"] for s in summary]
    for ax, key, label in ((ax_s, "steps_to_target", "steps"), (ax_e, "samples_to_target", "samples")):
        ax.scatter([r["batch_size"] for r in reached], [r[key] for r in reached], s=14, alpha=0.45, label="each seed")
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
    s0, b0 = first["steps_to_target_mean"], first["batch_size"]
    ax_s.plot(grid, [s0 * b0 / b for b in grid], "--", color="gray", label="perfect scaling (steps ∝ 1/B)")
    ax_e.plot(grid, [s0 * b0 for _ in grid], "--", color="gray", label="perfect scaling (same samples)")
    fit = analysis.fit
    if fit is not None and fit.status in ("fit", "perfect_scaling", "no_speedup"):
        ax_s.plot(grid, [fit.s_min + fit.e_min / b for b in grid], "-", color="tab:red", label="fit S_min + E_min/B")
        ax_e.plot(grid, [fit.e_min + fit.s_min * b for b in grid], "-", color="tab:red", label="fit E_min + S_min·B")
        if fit.status == "fit" and math.isfinite(fit.b_crit):
            for ax in (ax_s, ax_e):
                ax.axvline(fit.b_crit, color="tab:red", linestyle=":", label=f"B_crit ≈ {fit.b_crit:,.0f}")
    for ax in (ax_s, ax_e):
        ax.legend(fontsize=7)
    fig.suptitle("Steps and samples to the target (McCandlish et al. 2018)")
    return fig


def plot_time_to_target(analysis: StudyAnalysis, path: str | Path) -> Path | None:
    """Training seconds to the target against batch size (mean ± std over seeds)."""
    summary = [s for s in analysis.summary if s["seconds_to_target_mean"] is not None]
    if not summary or analysis.target is None:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(
        [s["batch_size"] for s in summary],
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
    sizes = [s["batch_size"] for s in summary]
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
    """The validation metric of every cell against steps, samples and training seconds (log x), one colour
    per batch size, one line per seed."""
    if not cells:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    sizes = sorted({int(c["effective_batch"]) for c in cells})
    cmap = plt.get_cmap("viridis")
    colours = {b: cmap(i / max(1, len(sizes) - 1)) for i, b in enumerate(sizes)}
    labelled: set[int] = set()
    metric = analysis.metric
    for cell in cells:
        rows = [r for r in cell.get("curve", []) if r.get(metric) is not None]
        if not rows:
            continue
        b = int(cell["effective_batch"])
        label = None if b in labelled else ("full" if cell["size"] == "full" else f"B={b}")
        labelled.add(b)
        values = [float(r[metric]) for r in rows]
        for ax, key in zip(axes, ("step", "samples", "train_seconds"), strict=True):
            xs = [max(float(r[key]), 1e-3) for r in rows]
            ax.plot(xs, values, color=colours[b], alpha=0.75, linewidth=1.1, label=label)
    for ax, name in zip(axes, ("optimizer steps", "training samples", "training seconds"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if analysis.target is not None and analysis.target.metric == metric:
            ax.axhline(analysis.target.value, color="gray", linestyle=":")
    axes[0].legend(fontsize=7, title="batch size")
    fig.suptitle(f"Learning curves: {metric} against steps, samples and seconds")
    return _save(fig, path)


def plot_throughput_memory(analysis: StudyAnalysis, path: str | Path) -> Path | None:
    """Training throughput (samples/s) and peak memory (RSS, and CUDA where used) against batch size."""
    summary = [s for s in analysis.summary if s["samples_per_second_mean"] is not None]
    if not summary:
        return None
    plt = _pyplot()
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    sizes = [s["batch_size"] for s in summary]
    ax_t.errorbar(
        sizes,
        [s["samples_per_second_mean"] for s in summary],
        yerr=[s["samples_per_second_std"] or 0.0 for s in summary],
        fmt="o-",
        capsize=3,
    )
    ax_t.set_yscale("log")
    ax_t.set_ylabel("training samples per second")
    ax_t.set_title("Throughput")
    _size_axis(ax_t, analysis.summary)
    mib = 2.0**20
    for key, label in (("peak_rss", "peak RSS of the process"), ("rss_growth", "RSS growth during the run")):
        values = [(s["batch_size"], s[f"{key}_mean"]) for s in summary if s[f"{key}_mean"] is not None]
        if values:
            ax_m.plot([v[0] for v in values], [v[1] / mib for v in values], "o-", label=label)
    cuda = [(s["batch_size"], s["cuda_peak_mean"]) for s in summary if s["cuda_peak_mean"] is not None]
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
) -> Path | None:
    """Draw :func:`noise_scale_figure` into ``path``; ``None`` (nothing written) without measurements."""
    fig = noise_scale_figure(noise, b_crit=b_crit, target_step=target_step)
    return _save(fig, path) if fig is not None else None


def noise_scale_figure(
    noise: dict[str, Any], *, b_crit: float | None = None, target_step: int | None = None
) -> Figure | None:
    """``B_simple`` over training, each measurement's own ratio faintly, the sweep's ``B_crit`` and the step
    at which the target was reached when known.

    The line is what the estimator reports: the ratio of the exponential moving averages of ``tr(Sigma)``
    and ``|G|^2`` (decay ``ema`` per measurement), not an average of the single-measurement ratios (the
    dots, which scatter widely and can be negative: those are left out of the log scale).

    Args:
        noise: the content of ``noise_scale.json``.
        b_crit: the critical batch size fitted by a sweep, in samples.
        target_step: the optimizer step at which the target was first reached.

    Returns:
        The figure, or ``None`` when there is no finite measurement.
    """
    measurements = [m for m in noise.get("measurements", []) if m.get("noise_scale") is not None]
    if not measurements:
        return None
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
    if b_crit is not None and math.isfinite(b_crit):
        ax.axhline(b_crit, color="tab:red", linestyle="--", label=f"B_crit from the sweep ≈ {b_crit:,.0f}")
    if target_step is not None:
        ax.axvline(target_step, color="tab:green", linestyle=":", label=f"target reached (step {target_step})")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("samples")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(
        f"Gradient noise scale at batch {noise.get('batch_size')} "
        f"({noise.get('micro_batches')} x {noise.get('b_small')} samples per measurement)"
    )
    return fig


def plot_study(analysis: StudyAnalysis, cells: Sequence[dict[str, Any]], directory: str | Path) -> list[Path]:
    """Draw every sweep plot that has data into ``directory``; return the written paths."""
    directory = Path(directory)
    drawn = [
        plot_steps_to_target(analysis, directory / "steps_to_target.png"),
        plot_time_to_target(analysis, directory / "time_to_target.png"),
        plot_final_metric(analysis, directory / "final_metric.png"),
        plot_learning_curves_by_size(cells, analysis, directory / "learning_curves.png"),
        plot_throughput_memory(analysis, directory / "throughput_memory.png"),
    ]
    return [p for p in drawn if p is not None]


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _log_grid(low: float, high: float, points: int = 60) -> list[float]:
    if high <= low:
        return [low]
    a, b = math.log(low), math.log(high)
    return [math.exp(a + (b - a) * i / (points - 1)) for i in range(points)]
