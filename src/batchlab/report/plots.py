"""Plots people would rather look at than read: learning curves of a run, its confusion matrix and, for
audio runs, example spectrograms with their true and predicted labels (PNG or SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from batchlab.experiment.examples import SpectrogramExample

__all__ = [
    "confusion_matrix_figure",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_spectrograms",
    "spectrogram_figure",
]


def plot_learning_curves(
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    best_epoch: float | None = None,
    stopped_epoch: float | None = None,
    title: str | None = None,
) -> Path:
    """Loss and the main metric against epoch, train and validation, with the early-stopping point marked.

    Args:
        rows: metrics rows (``epoch``, ``train_loss``, ``val_loss``, ``train_accuracy``, ``val_accuracy``
            or ``val_r2``/``val_mae`` ...), as in ``metrics.csv``.
        path: output file; the suffix picks the format (``.png``, ``.svg``).
        best_epoch: the epoch whose weights were kept (drawn as a dashed line).
        stopped_epoch: the epoch at which early stopping ended training (drawn as a dotted line).
        title: figure title.

    Returns:
        The written path.
    """
    from matplotlib.figure import Figure  # no pyplot: no backend or global figure state

    x = [float(r["epoch"]) for r in rows]
    metric = _main_metric(rows)
    panels = [("loss", ["train_loss", "val_loss"])]
    if metric is not None:
        panels.append((metric.removeprefix("val_"), [f"train_{metric[4:]}", metric]))
    width, height = 5.2 * len(panels), 3.8
    fig = Figure(figsize=(width, height))
    # A fixed layout in inches: tight_layout() draws the figure once more only to measure it (about 40% of
    # the plot's CPU time, which every `batchlab train` pays).
    fig.subplots_adjust(
        left=0.8 / width,
        right=1.0 - 0.2 / width,
        bottom=0.55 / height,
        top=1.0 - (0.5 if title else 0.2) / height,
        wspace=0.9 * len(panels) / (width - 1.0),
    )
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (label, keys) in zip(axes[0], panels, strict=True):
        for key, style in zip(keys, ("-", "-"), strict=True):
            ys = [r.get(key) for r in rows]
            points = [(a, float(b)) for a, b in zip(x, ys, strict=True) if b not in (None, "")]
            if points:
                xs, vs = zip(*points, strict=True)
                ax.plot(xs, vs, style, marker="o", markersize=3, label=key.split("_", 1)[0])
        if best_epoch is not None:
            ax.axvline(
                best_epoch,
                color="tab:green",
                linestyle="--",
                linewidth=1,
                label=f"best (epoch {best_epoch:g})",
            )
        if stopped_epoch is not None:
            ax.axvline(
                stopped_epoch,
                color="tab:red",
                linestyle=":",
                linewidth=1,
                label=f"stopped (epoch {stopped_epoch:g})",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def confusion_matrix_figure(matrix: Sequence[Sequence[int]], classes: Sequence[str] | None = None) -> Figure:
    """A confusion matrix as a heat map: true class down, predicted class across, each cell's count written in.

    Colours are each row's share of its true class (so a small class is as visible as a large one);
    the numbers are counts of samples.

    Args:
        matrix: ``(classes, classes)`` counts, ``matrix[true][predicted]``.
        classes: class names, one per row (default ``0, 1, ...``).

    Returns:
        The figure.

    Raises:
        ValueError: the matrix is empty or not square, or ``classes`` has another length.
    """
    from matplotlib.figure import Figure

    n = len(matrix)
    if n == 0 or any(len(row) != n for row in matrix):
        raise ValueError(f"a confusion matrix must be square and not empty, got {n} rows")
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for a {n}x{n} confusion matrix")
    totals = [max(1, sum(int(v) for v in row)) for row in matrix]
    shares = [[int(v) / totals[i] for v in row] for i, row in enumerate(matrix)]
    side = min(9.0, 2.2 + 0.35 * n)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    small = 8 if n <= 12 else 6
    if n <= 30:  # beyond that the numbers no longer fit in their cells
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                colour = "white" if shares[i][j] > 0.6 else "black"
                ax.text(j, i, str(int(value)), ha="center", va="center", fontsize=small, color=colour)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(names, rotation=90 if max(len(s) for s in names) > 3 else 0, fontsize=small)
    ax.set_yticklabels(names, fontsize=small)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title(f"Confusion matrix ({sum(sum(int(v) for v in row) for row in matrix):,} samples)")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], path: str | Path, classes: Sequence[str] | None = None
) -> Path:
    """Draw :func:`confusion_matrix_figure` into ``path`` (the suffix picks PNG or SVG); returns the path."""
    return _save(confusion_matrix_figure(matrix, classes), path)


def spectrogram_figure(examples: Sequence[SpectrogramExample], *, columns: int = 4, title: str | None = None) -> Figure:
    """A grid of log-mel spectrograms, one panel per example, titled with the true and predicted label.

    Each panel shows mel band (low at the bottom) against time in seconds; colours are the natural log
    of mel energy on one scale shared by all panels. A wrong prediction's title is red.

    Args:
        examples: the recordings to show (see :func:`~batchlab.experiment.examples.audio_examples`).
        columns: panels per row (fewer when there are fewer examples).
        title: figure title.

    Returns:
        The figure: one axes with an image per example, plus one colour bar.

    Raises:
        ValueError: no examples.
    """
    from matplotlib.figure import Figure

    if not examples:
        raise ValueError("spectrogram_figure needs at least one example")
    columns = max(1, min(columns, len(examples)))
    rows = -(-len(examples) // columns)
    low = min(float(e.logmel.min()) for e in examples)
    high = max(float(e.logmel.max()) for e in examples)
    width, height = 3.0 * columns + 1.2, 2.5 * rows + (0.5 if title else 0.2)
    fig = Figure(figsize=(width, height))
    # A fixed layout in inches (a constrained layout costs more than the drawing on a busy CPU).
    fig.subplots_adjust(
        left=0.6 / width,
        right=1.0 - 0.9 / width,
        bottom=0.5 / height,
        top=1.0 - (0.75 if title else 0.3) / height,
        wspace=0.25,
        hspace=0.55 * 2.5 / (2.5 - 0.55),
    )
    grid = fig.subplots(rows, columns, squeeze=False)
    image = None
    for k, ax in enumerate(grid.flat):
        if k >= len(examples):
            ax.remove()  # an empty cell of the last row
            continue
        example = examples[k]
        bands, frames = example.logmel.shape
        image = ax.imshow(
            example.logmel,
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            cmap="magma",
            vmin=low,
            vmax=high,
            extent=(0.0, frames * example.hop_seconds, 0.0, float(bands)),
        )
        verdict = "" if example.correct else " (wrong)"
        ax.set_title(
            f"true {example.true} · predicted {example.predicted}{verdict} ({example.probability:.0%})",
            fontsize=8,
            color="black" if example.correct else "tab:red",
        )
        if example.file:
            ax.text(0.01, 0.98, example.file, transform=ax.transAxes, fontsize=6, color="white", va="top")
        ax.tick_params(labelsize=7)
        if k % columns == 0:
            ax.set_ylabel("mel band", fontsize=8)
        if k >= len(examples) - columns:
            ax.set_xlabel("time (s)", fontsize=8)
    if image is not None:
        bar = fig.add_axes((1.0 - 0.75 / width, 0.5 / height, 0.12 / width, 1.0 - (1.0 if title else 0.8) / height))
        fig.colorbar(image, cax=bar, label="log mel energy")
    if title:
        fig.suptitle(title)
    return fig


def plot_spectrograms(
    examples: Sequence[SpectrogramExample], path: str | Path, *, columns: int = 4, title: str | None = None
) -> Path:
    """Draw :func:`spectrogram_figure` into ``path`` (the suffix picks PNG or SVG); returns the path."""
    return _save(spectrogram_figure(examples, columns=columns, title=title), path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    return path


def _main_metric(rows: Sequence[dict[str, Any]]) -> str | None:
    names = {k for r in rows for k, v in r.items() if v not in (None, "")}
    for candidate in ("val_accuracy", "val_r2", "val_mae"):
        if candidate in names:
            return candidate
    return None
