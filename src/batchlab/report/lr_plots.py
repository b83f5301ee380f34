"""Plots of learning-rate range tests: one test's loss against the rate, and the best rate against the batch size.

Both use matplotlib's ``Figure`` directly (no pyplot, no global state) and are drawn from the records the
tests write (``lr_find.json``), so ``batchlab report`` can redraw them.
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

    from batchlab.study.lr_exponent import LRBatchAnalysis

__all__ = ["lr_batch_figure", "plot_lr_batch", "plot_range_test", "range_test_figure"]

_STEEPEST_COLOR = "tab:red"
_MIN10_COLOR = "tab:green"


def range_test_figure(record: dict[str, Any], *, title: str | None = None) -> Figure:
    """The loss against the rate (log axis) of one range test, both suggestions marked.

    Draws the loss of each step (faint), its smoothed curve, the loss of the initial weights (dotted),
    the steepest-descent point (red) and the minimum / 10 (green; the minimum itself as a triangle). The
    y axis spans the lowest loss (raw or smoothed) to a little above the start of the curve, so the
    divergence at the end does not flatten it.

    Args:
        record: a range test as in ``lr_find.json`` (``curve``, ``suggestions``, ``initial_loss``, ``rule``).
        title: figure title (default: the config name, batch and optimizer).
    """
    from matplotlib.figure import Figure

    curve = record["curve"]
    rates = [float(r) for r in curve["lr"]]
    raw = [_value(x) for x in curve["loss"]]
    smoothed = [_value(x) for x in curve["smoothed"]]
    found = record["suggestions"]
    fig = Figure(figsize=(7.0, 4.4))
    ax = fig.subplots()
    ax.plot(rates, raw, color="0.65", linewidth=0.8, label="loss of each step")
    ax.plot(rates, smoothed, color="tab:blue", linewidth=1.8, label="smoothed loss")
    initial = record.get("initial_loss")
    if initial is not None:
        ax.axhline(initial, color="0.4", linestyle=":", linewidth=1, label=f"initial loss {initial:.3g}")
    rule = record.get("rule", "min10")
    steepest = found.get("steepest")
    if steepest is not None:
        chosen = " (suggested)" if rule == "steepest" else ""
        ax.axvline(steepest, color=_STEEPEST_COLOR, linestyle="--", linewidth=1)
        ax.plot(
            [steepest],
            [_at(rates, smoothed, steepest)],
            "o",
            color=_STEEPEST_COLOR,
            markersize=7,
            label=f"steepest descent: {steepest:.3g}{chosen}",
        )
    tenth, best = found.get("min10"), found.get("best_rate")
    if tenth is not None and best is not None:
        chosen = " (suggested)" if rule == "min10" else ""
        ax.axvline(tenth, color=_MIN10_COLOR, linestyle="--", linewidth=1)
        if tenth >= rates[0]:
            ax.plot([tenth], [_at(rates, smoothed, tenth)], "o", color=_MIN10_COLOR, markersize=7)
        ax.plot(
            [best],
            [found["best_loss"]],
            "v",
            color=_MIN10_COLOR,
            markersize=7,
            label=f"minimum {best:.3g} / 10 = {tenth:.3g}{chosen}",
        )
    ax.set_xscale("log")
    finite = [s for s in smoothed if math.isfinite(s)]
    if finite:
        # The raw losses before the last point count too: the smoothed curve lags them and can stay far above.
        low = min(finite + [x for x in raw[:-1] if math.isfinite(x)])
        high = max(finite[0], initial if initial is not None else finite[0])
        span = max(high - low, 1e-3 * max(abs(high), 1.0))
        ax.set_ylim(low - 0.1 * span, high + 0.35 * span)
    ax.set_xlabel("learning rate (one optimizer step each)")
    ax.set_ylabel("training loss after the step")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    fig.suptitle(title or _title(record), fontsize=10)
    fig.tight_layout()
    return fig


def plot_range_test(record: dict[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    """Draw :func:`range_test_figure` into ``path`` (PNG or SVG by suffix); returns the path."""
    return _save(range_test_figure(record, title=title), path)


def lr_batch_figure(analysis: LRBatchAnalysis, records: Sequence[dict[str, Any]]) -> Figure:
    """The best rate against the batch size (log-log) beside the linear and square-root rules, and the curves.

    Left: each range test's suggestion (small points), the geometric mean per size (large points), the
    least-squares line with its 95% confidence band, and the two rules (slopes 1 and 1/2) through the
    centre of the points. Right: the smoothed loss of every test against the rate, one colour per size,
    each suggestion marked.

    Args:
        analysis: the study's fit (see :func:`batchlab.study.lr_exponent.analyze_lr_batch`).
        records: the finished range tests (``lr_find.json`` records with ``batch`` and ``seed``).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 4.6))
    ax_fit, ax_curves = fig.subplots(1, 2)
    _draw_fit(ax_fit, analysis)
    _draw_curves(ax_curves, analysis, records)
    fig.tight_layout()
    return fig


def plot_lr_batch(analysis: LRBatchAnalysis, records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Draw :func:`lr_batch_figure` into ``path``; returns the path."""
    return _save(lr_batch_figure(analysis, records), path)


def _draw_fit(ax: Axes, analysis: LRBatchAnalysis) -> None:
    import numpy as np

    points = analysis.points
    unit = "tokens per step" if analysis.unit == "tokens" else "samples per step"
    if points:
        ax.plot(
            [p.batch for p in points],
            [p.rate for p in points],
            "o",
            color="tab:blue",
            alpha=0.45,
            markersize=4,
            label="one range test",
        )
    means = analysis.means
    if means:
        ax.plot(
            [m[0] for m in means], [m[1] for m in means], "o", color="tab:blue", markersize=8, label="geometric mean"
        )
    fit = analysis.fit
    if fit is not None and points:
        lo, hi = min(p.batch for p in points), max(p.batch for p in points)
        xs = np.exp(np.linspace(math.log(lo), math.log(hi), 50))
        ax.plot(
            xs,
            np.exp(fit.intercept + fit.exponent * np.log(xs)),
            color="tab:blue",
            linewidth=1.8,
            label=f"fit: exponent {fit.exponent:.2f}"
            + (f" [{fit.low:.2f}, {fit.high:.2f}]" if fit.has_interval else ""),
        )
        if fit.has_interval:
            low, high = zip(*(fit.band(float(x)) for x in xs), strict=True)
            ax.fill_between(xs, low, high, color="tab:blue", alpha=0.15, linewidth=0)
        for slope, name, style in ((1.0, "linear rule (slope 1)", "--"), (0.5, "square-root rule (slope 1/2)", ":")):
            ys = np.exp(fit.center_y + slope * (np.log(xs) - fit.center_x))
            ax.plot(xs, ys, color="0.3", linestyle=style, linewidth=1.2, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if points:  # one tick per batch size, written out (log axes would print 2x10^3 3x10^3 4x10^3 on top of each other)
        from matplotlib.ticker import NullLocator

        labels = {p.batch: f"{p.batch:,.0f}" + ("\n(full)" if p.label == "full" else "") for p in points}
        ax.set_xticks(sorted(labels))
        ax.set_xticklabels([labels[b] for b in sorted(labels)])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(f"batch size ({unit})")
    ax.set_ylabel(f"suggested learning rate ({analysis.rule_text})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(analysis.headline, fontsize=9)


def _draw_curves(ax: Axes, analysis: LRBatchAnalysis, records: Sequence[dict[str, Any]]) -> None:
    from matplotlib import colormaps

    sizes = sorted({float(r["batch"]) for r in records})
    cmap = colormaps["viridis"]
    colors = {s: cmap(i / max(1, len(sizes) - 1)) for i, s in enumerate(sizes)}
    labelled: set[float] = set()
    low, high = math.inf, -math.inf
    for record in records:
        batch = float(record["batch"])
        rates = [float(r) for r in record["curve"]["lr"]]
        smoothed = [_value(x) for x in record["curve"]["smoothed"]]
        label = None if batch in labelled else f"batch {record.get('batch_label', int(batch))}"
        labelled.add(batch)
        ax.plot(rates, smoothed, color=colors[batch], linewidth=1.2, alpha=0.8, label=label)
        rate = record["suggestions"].get(analysis.rule)
        if rate is not None:
            ax.plot([rate], [_at(rates, smoothed, rate)], "o", color=colors[batch], markersize=5, markeredgecolor="k")
        finite = [s for s in smoothed if math.isfinite(s)]
        if finite:
            low, high = min(low, min(finite)), max(high, finite[0])
    ax.set_xscale("log")
    if math.isfinite(low) and math.isfinite(high) and high > low:
        ax.set_ylim(low - 0.1 * (high - low), high + 0.35 * (high - low))
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    ax.set_title(f"range tests (dots: {analysis.rule_text})", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def _title(record: dict[str, Any]) -> str:
    info = record.get("info", {})
    optimizer = info.get("optimizer", {}).get("name", "")
    unit = "tokens" if info.get("batch_unit") == "tokens" else "samples"
    return f"{record.get('name', '')}: range test at batch {info.get('lr_batch', '?')} {unit}, {optimizer}".strip()


def _value(x: Any) -> float:
    return math.nan if x is None else float(x)


def _at(rates: Sequence[float], values: Sequence[float], rate: float) -> float:
    """``values`` linearly interpolated in the logarithm of the rate (clamped at the ends)."""
    import numpy as np

    pairs = [(math.log(r), v) for r, v in zip(rates, values, strict=True) if math.isfinite(v)]
    if not pairs:
        return math.nan
    xs, ys = zip(*pairs, strict=True)
    return float(np.interp(math.log(rate), xs, ys))


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    return path
