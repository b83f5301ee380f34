"""What a study is: the base config, the space, the method and the options of ``batchlab tune``.

:class:`TuneSettings` is checked once, where it is built (:func:`make_settings`), and then shared by
every worker process (it pickles). Its :meth:`~TuneSettings.identity` is stored with the study so that
a resumed study, or a worker that joins from another machine, can be refused when it would mix trials
of different experiments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from batchlab.config import Config
from batchlab.errors import ConfigError, did_you_mean
from batchlab.tune.space import SearchSpace

__all__ = [
    "DIRECTIONS",
    "METHODS",
    "METRICS",
    "PRUNERS",
    "SAMPLERS",
    "SCALING_RULES",
    "TuneSettings",
    "check_options",
    "default_direction",
    "make_settings",
]

Method = Literal["grid", "random", "bayes"]
METHODS: tuple[str, ...] = ("grid", "random", "bayes")
SAMPLERS: tuple[str, ...] = ("tpe", "gp")
PRUNERS: tuple[str, ...] = ("none", "median", "halving", "hyperband")
SCALING_RULES: tuple[str, ...] = ("none", "linear", "sqrt")
DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")
METRICS: tuple[str, ...] = (
    "val_accuracy",
    "val_loss",
    "val_mse",
    "val_mae",
    "val_r2",
    "val_bpc",
    "val_perplexity",
    "train_loss",
    "train_accuracy",
)


@dataclass(frozen=True)
class TuneSettings:
    """Everything a worker needs to run trials of one study.

    Attributes:
        config: the base config (the file with ``--set`` overrides); each trial changes the tuned fields.
        space: the search space.
        method: ``grid``, ``random`` or ``bayes``.
        trials: finished trials the study should hold (``None``: until ``timeout`` or the grid's end).
        timeout: seconds after which no new trial starts (running ones finish).
        seed: seed of the sampler (each trial's values are drawn with a seed made of it and the trial number).
        metric: the validation metric to optimize, as logged in ``metrics.csv``.
        direction: ``maximize`` or ``minimize``.
        study_name: the study's name in the storage.
        storage: a database URL, or ``None`` for the journal file ``study_dir/optuna.journal``.
        workers: trial processes on this machine.
        study_dir: where trial runs, ``best_config.yaml``, ``trials.csv`` and plots go.
        prune: ``none``, ``median``, ``halving`` or ``hyperband``.
        lr_scaling: ``none``, ``linear`` or ``sqrt``: scale the learning rate with the batch size.
        grid_points: values taken from each continuous range by grid search.
        sampler: ``tpe`` or ``gp`` for ``bayes``.
        config_path: the config file, for messages and ``tune.json``.
        space_path: the space file, for messages and ``tune.json``.
    """

    config: Config
    space: SearchSpace
    method: str = "bayes"
    trials: int | None = None
    timeout: float | None = None
    seed: int = 0
    metric: str = "val_accuracy"
    direction: str = "maximize"
    study_name: str = "study"
    storage: str | None = None
    workers: int = 1
    study_dir: Path = field(default_factory=lambda: Path("runs/study"))
    prune: str = "none"
    lr_scaling: str = "none"
    grid_points: int | None = None
    sampler: str = "tpe"
    config_path: str | None = None
    space_path: str | None = None

    @property
    def sampler_name(self) -> str:
        """``grid``, ``random``, ``tpe`` or ``gp``."""
        return self.sampler if self.method == "bayes" else self.method

    def identity(self) -> dict[str, Any]:
        """What must match for trials to belong to the same study (not the budget, timeout or workers)."""
        return {
            "method": self.method,
            "sampler": self.sampler_name,
            "seed": self.seed,
            "metric": self.metric,
            "direction": self.direction,
            "prune": self.prune,
            "lr_scaling": self.lr_scaling,
            "grid_points": self.grid_points if self.method == "grid" else None,
            "space": self.space.to_dict(),
            "config": self.config.model_dump(mode="json", exclude={"name"}),
        }


def default_direction(metric: str) -> str:
    """``minimize`` for losses and errors (``*loss``, ``*mse``, ``*mae``, ``*bpc``, ``*perplexity``), else ``maximize``.

    >>> default_direction("val_accuracy"), default_direction("val_bpc")
    ('maximize', 'minimize')
    """
    return "minimize" if re.search(r"(loss|mse|mae|bpc|perplexity)$", metric) else "maximize"


def make_settings(
    config: Config,
    space: SearchSpace,
    *,
    method: str,
    trials: int | None = None,
    timeout: float | None = None,
    seed: int = 0,
    metric: str = "val_accuracy",
    direction: str | None = None,
    study_name: str | None = None,
    storage: str | None = None,
    workers: int = 1,
    study_dir: str | Path | None = None,
    prune: str = "none",
    lr_scaling: str = "none",
    grid_points: int | None = None,
    sampler: str = "tpe",
    config_path: str | Path | None = None,
    space_path: str | Path | None = None,
) -> TuneSettings:
    """Check the options of a study and fill in the defaults.

    The study name defaults to ``<config name>-<method>`` and the study directory to
    ``runs/tune-<study name>``, so the same command finds the same study again. The space is checked
    against the config schema here (:func:`check_options`), before anything heavy is imported.

    Raises:
        ConfigError: an unknown method, sampler, pruner, metric or direction, a non-positive count, or a
            space that does not fit the config.
    """
    _one_of("--method", method, METHODS)
    _one_of("--sampler", sampler, SAMPLERS)
    _one_of("--prune", prune, PRUNERS)
    _one_of("--lr-scaling", lr_scaling, SCALING_RULES)
    _one_of("--metric", metric, METRICS)
    direction = direction or default_direction(metric)
    _one_of("--direction", direction, DIRECTIONS)
    if sampler != "tpe" and method != "bayes":
        raise ConfigError(f"--sampler {sampler}: a sampler is chosen only with --method bayes")
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials: expected a positive number of trials, got {trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout: expected a positive number of seconds, got {timeout:g}")
    if trials is None and timeout is None and method != "grid":
        raise ConfigError(f"--method {method}: give --trials N (or --timeout SECONDS) to bound the study")
    if workers < 1:
        raise ConfigError(f"--workers: expected at least 1, got {workers}")
    if grid_points is not None and method != "grid":
        raise ConfigError("--grid-points applies to --method grid only")
    name = study_name or f"{config.name}-{method}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"--study: {name!r}: use letters, digits, '.', '_' and '-' (it names a folder)")
    check_options(config, space, method=method, grid_points=grid_points, lr_scaling=lr_scaling)
    return TuneSettings(
        config=config,
        space=space,
        method=method,
        trials=trials,
        timeout=timeout,
        seed=seed,
        metric=metric,
        direction=direction,
        study_name=name,
        storage=storage,
        workers=workers,
        study_dir=Path(study_dir) if study_dir is not None else Path("runs") / f"tune-{name}",
        prune=prune,
        lr_scaling=lr_scaling,
        grid_points=grid_points,
        sampler=sampler,
        config_path=str(config_path) if config_path is not None else None,
        space_path=str(space_path) if space_path is not None else None,
    )


def check_options(config: Config, space: SearchSpace, *, method: str, grid_points: int | None, lr_scaling: str) -> None:
    """The checks that need no data: the space against the schema, the grid, the LR scaling base batch.

    Raises:
        ConfigError: the first problem found.
    """
    from batchlab.tune.grid import grid_points as make_grid
    from batchlab.tune.schema import check_space
    from batchlab.tune.trial_config import scaling_base_batch

    check_space(space, config)
    if method == "grid":
        make_grid(space, grid_points)
    if lr_scaling != "none":
        scaling_base_batch(config)


def _one_of(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{option}: unknown value {value!r}; {did_you_mean(value, allowed)}")
