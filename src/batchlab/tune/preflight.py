"""Checks made once, before any trial runs, so that a mistake costs seconds rather than a study."""

from __future__ import annotations

from batchlab.config import Config
from batchlab.errors import ConfigError
from batchlab.tune.settings import TuneSettings, check_options

__all__ = ["logged_metrics", "preflight"]


def preflight(settings: TuneSettings) -> None:
    """Check the options (:func:`check_options`) and that the runs log the metric.

    Loads the base config's data once (a data error surfaces here, not in every trial).

    Raises:
        ConfigError: a bad space, option or metric.
        DataError: the base config's data cannot be loaded.
    """
    check_options(
        settings.config,
        settings.space,
        method=settings.method,
        grid_points=settings.grid_points,
        lr_scaling=settings.lr_scaling,
    )
    metrics = logged_metrics(settings.config)
    if settings.metric not in metrics:
        raise ConfigError(
            f"--metric {settings.metric}: the runs of this config do not log it; they log {', '.join(metrics)}"
        )


def logged_metrics(config: Config) -> list[str]:
    """The metric names a run of ``config`` logs at each evaluation (depends on the task and the splits)."""
    from batchlab.data.pipeline import prepare_data

    data = prepare_data(config.data)
    classification = data.task == "classification"
    names = ["train_loss"] + (["train_accuracy"] if classification else [])
    if data.val is not None and len(data.val):
        if classification:
            names += ["val_loss", "val_accuracy"]
        elif data.task == "language_model":  # nats per token, and bits per character or perplexity
            names += ["val_loss", "val_bpc" if config.data.tokenizer.kind == "char" else "val_perplexity"]
        else:
            names += ["val_loss", "val_mse", "val_mae", "val_r2"]
    return names
