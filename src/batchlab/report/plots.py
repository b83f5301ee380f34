"""Plots people would rather look at than read: learning curves of a run (PNG or SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchlab.atomic import atomic_path

__all__ = ["plot_learning_curves"]


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
    fig = Figure(figsize=(5.2 * len(panels), 3.8))
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
    fig.tight_layout()
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
