"""``batchlab tune``: hyperparameter search over config fields, on Optuna."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batchlab.cli.app import app, console, user_errors
from batchlab.plural import counted

__all__ = ["tune"]


@app.command()
@user_errors
def tune(
    config: Annotated[Path, typer.Argument(help="YAML config file: the base of every trial.")],
    space: Annotated[
        Path,
        typer.Option(
            "--space", help="YAML search space: {dotted.path: {choice|uniform|log_uniform|int|int_log: ...}}."
        ),
    ],
    method: Annotated[str, typer.Option("--method", help="grid, random or bayes.")] = "bayes",
    trials: Annotated[
        int | None, typer.Option("--trials", help="Trials the study should hold (grid: default the whole grid).")
    ] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Start no trial after SECONDS.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampler.")] = 0,
    metric: Annotated[str, typer.Option("--metric", help="Validation metric to optimize.")] = "val_accuracy",
    direction: Annotated[
        str | None, typer.Option("--direction", help="maximize or minimize (default: minimize for losses and errors).")
    ] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study name (default <config name>-<method>).")] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Database URL (sqlite:///..., postgresql://...) or journal file; default STUDY_DIR/optuna.journal.",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Trial processes on this machine.")] = 1,
    study_dir: Annotated[
        Path | None, typer.Option("--study-dir", help="Where trials and results go (default runs/tune-<study>).")
    ] = None,
    prune: Annotated[str, typer.Option("--prune", help="median, halving, hyperband or none.")] = "none",
    lr_scaling: Annotated[
        str, typer.Option("--lr-scaling", help="none, linear or sqrt: scale the learning rate with the batch size.")
    ] = "none",
    grid_points: Annotated[
        int | None, typer.Option("--grid-points", help="Grid: values taken from each continuous range.")
    ] = None,
    sampler: Annotated[str, typer.Option("--sampler", help="Bayesian sampler: tpe or gp.")] = "tpe",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a base config field: --set train.epochs=5 (repeatable).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live table of trials.")] = False,
) -> None:
    """Tune config fields with grid, random or Bayesian search; resume by running the same command again."""
    from batchlab.config import load_config
    from batchlab.tune.settings import make_settings
    from batchlab.tune.space import load_space

    base = load_config(config, list(set_ or []))
    settings = make_settings(
        base,
        load_space(space),
        method=method,
        trials=trials,
        timeout=timeout,
        seed=seed,
        metric=metric,
        direction=direction,
        study_name=study,
        storage=storage,
        workers=workers,
        study_dir=study_dir,
        prune=prune,
        lr_scaling=lr_scaling,
        grid_points=grid_points,
        sampler=sampler,
        config_path=config,
        space_path=space,
    )
    console.print(
        f"Study {settings.study_name}: {settings.method}"
        + (f" ({settings.sampler_name})" if settings.method == "bayes" else "")
        + f", {settings.direction} {settings.metric}"
        + (f", {counted(settings.trials, 'trial')}" if settings.trials else "")
        + (f", pruning: {settings.prune}" if settings.prune != "none" else "")
        + (f", {settings.workers} workers" if settings.workers > 1 else "")
        + f"; study directory {settings.study_dir}",
        markup=False,
        soft_wrap=True,
    )
    from batchlab.tune.runner import run_study  # torch and Optuna load only once the options are sound
    from batchlab.tune.table import summary_line

    outcome = run_study(settings, console=None if quiet else console)
    console.print(f"Stopped: {outcome.stop}", markup=False)
    if quiet or not console.is_terminal:  # on a terminal the live table ends with this line already
        console.print(summary_line(outcome.rows, settings.metric, settings.direction), markup=False, soft_wrap=True)
    if outcome.best is not None:
        params = ", ".join(f"{path}={value}" for path, value in outcome.best.params.items())
        console.print(f"Best: trial {outcome.best.number}: {params}", markup=False, soft_wrap=True)
        console.print(f"Best config: {outcome.study_dir / 'best_config.yaml'}", markup=False)
    console.print(f"Study directory: {outcome.study_dir}  (batchlab report {outcome.study_dir})", markup=False)
