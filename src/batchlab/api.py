"""The public functions behind ``batchlab`` and the command line: fit, evaluate, predict, generate, lr_find.

Example:
    >>> import batchlab
    >>> result = batchlab.fit({"data": {"source": "iris"}, "train": {"epochs": 2}},
    ...                       run_dir="runs/doc-example", progress=False)  # doctest: +SKIP
    >>> result.test_metrics["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from batchlab.config import Config, load_config, make_config
from batchlab.experiment.inference import evaluate_run, predict_run
from batchlab.experiment.rundir import RunDirectory
from batchlab.experiment.training import RunResult, train_run
from batchlab.train.callbacks import Callback

if TYPE_CHECKING:
    from batchlab.lr_range.range_test import LRFindResult

__all__ = ["evaluate", "fit", "generate", "lr_find", "predict", "resolve_config"]


def resolve_config(config: Config | Mapping[str, Any] | str | Path | None, overrides: Iterable[str] = ()) -> Config:
    """A :class:`Config` from a Config, a nested mapping, or a YAML path, with ``key=value`` overrides."""
    if isinstance(config, (str, Path)):
        return load_config(config, overrides)
    return make_config(config, overrides)


def fit(
    config: Config | Mapping[str, Any] | str | Path | None = None,
    *,
    overrides: Iterable[str] = (),
    model: torch.nn.Module | None = None,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    progress: bool = True,
    plots: bool = True,
    console: Any = None,
) -> RunResult:
    """Train a model from a config, evaluate it on the test split and write a run directory.

    Args:
        config: a :class:`Config`, a nested dict like the YAML file, or the path of a YAML file.
            ``None`` trains the defaults (an MLP on the built-in digits data).
        overrides: ``dotted.key=value`` strings, as ``--set`` on the command line.
        model: any ``torch.nn.Module`` to train instead of the config's model; it maps
            ``(batch, *input_shape)`` to ``(batch, outputs)`` (classes, or 1 for binary and regression).
        run_dir: where to write the run (default ``runs/<name>-<timestamp>``).
        resume: a run directory to continue from its latest checkpoint (its config is used, with
            ``overrides`` applied); a run trained on a custom module needs that module again as ``model``.
            A finished run is returned as it is, unchanged (``result.already_finished``), unless the
            config raises ``train.epochs`` or ``train.max_steps``: then it trains on to the new end.
        callbacks: extra callbacks (see :mod:`batchlab.train.callbacks`).
        progress: show the progress bar and the per-epoch table.
        plots: draw ``plots/learning_curves.png`` and, for audio runs, ``plots/spectrograms.png`` (a few
            recordings of the test split, or of validation, with their true and predicted labels).

    Returns:
        A :class:`RunResult` with the history, test metrics and run directory.
    """
    if resume is not None:
        if config is None:
            cfg = make_config(RunDirectory(resume).read_config(), overrides)
        else:
            cfg = resolve_config(config, overrides)
        run_dir = resume
    else:
        cfg = resolve_config(config, overrides)
    result = train_run(
        cfg,
        model=model,
        run_dir=run_dir,
        callbacks=callbacks,
        resume=resume is not None,
        progress=progress,
        console=console,
    )
    draw = plots and not result.already_finished  # a finished run is left as it is (`report` redraws plots)
    if draw and result.history and _is_main_process():
        from batchlab.report.plots import plot_learning_curves

        plot_learning_curves(
            result.history,
            Path(result.run_dir) / "plots" / "learning_curves.png",
            best_epoch=result.best_epoch,
            stopped_epoch=result.info.get("stopped_epoch"),
            title=cfg.name,
        )
    audio = result.parts is not None and result.parts.data.input_spec.kind == "frames"
    if draw and audio and _is_main_process():
        _plot_audio_examples(result)
    return result


def _plot_audio_examples(result: RunResult) -> Path | None:
    """``plots/spectrograms.png`` of an audio run: recordings of its test (or validation) split."""
    from batchlab.report.summary import plot_split_spectrograms

    parts = result.parts
    assert parts is not None
    return plot_split_spectrograms(
        result.model,
        parts.eval_transform,
        parts.objective,
        parts.data,
        Path(result.run_dir) / "plots" / "spectrograms.png",
        name=result.config.name,
        seed=result.config.train.seed,
    )


def _is_main_process() -> bool:
    from batchlab.train.distributed import DistributedInfo

    return DistributedInfo.from_env().is_main


def evaluate(
    run_dir: str | Path, data: str | Path | None = None, *, model: torch.nn.Module | None = None
) -> dict[str, Any]:
    """Metrics of a trained run on its test split or on a labelled file (same format as training).

    Args:
        run_dir: a run directory.
        data: a labelled file; default the run's test split.
        model: for a run trained on a custom module: a new instance of it (its weights are loaded).
    """
    return evaluate_run(run_dir, data, model=model)


def predict(
    run_dir: str | Path, source: str | Path, output: str | Path, *, model: torch.nn.Module | None = None
) -> int:
    """Predict every row/image/text/recording of ``source`` into the CSV ``output``; returns the row count.

    ``model``: for a run trained on a custom module, a new instance of it.
    """
    return predict_run(run_dir, source, output, model=model)


def generate(
    run_dir: str | Path,
    prompt: str,
    *,
    tokens: int = 300,
    temperature: float = 0.8,
    top_k: int | None = 40,
    seed: int = 0,
    model: torch.nn.Module | None = None,
) -> str:
    """Sample text from a language-model run: ``prompt`` (as given) followed by ``tokens`` new tokens.

    Args:
        run_dir: a run trained with ``data.task: language_model``.
        prompt: the text to continue; the run's tokenizer must know all of it.
        tokens: how many tokens to add.
        temperature: 0 picks the most likely token each time; higher values give more varied text.
        top_k: sample among the ``top_k`` most likely tokens (``None``: all).
        seed: seed of the sampling (the same seed gives the same text).
        model: for a run trained on a custom module, a new instance of it.

    Example:
        >>> batchlab.generate("runs/shakespeare", "ROMEO:", tokens=100, seed=0)  # doctest: +SKIP
    """
    from batchlab.experiment.generation import generate_text

    return generate_text(
        run_dir, prompt=prompt, tokens=tokens, temperature=temperature, top_k=top_k, seed=seed, model=model
    )


def lr_find(
    config: Config | Mapping[str, Any] | str | Path | None = None,
    *,
    overrides: Iterable[str] = (),
    model: torch.nn.Module | None = None,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    smooth: float = 0.98,
    diverge: float = 4.0,
    rule: str = "min10",
    run_dir: str | Path | None = None,
    apply: bool = False,
    plots: bool = True,
    callbacks: Iterable[Callback] = (),
) -> LRFindResult:
    """The learning-rate range test: one optimizer step per rate, the rate rising from ``min_lr`` to ``max_lr``.

    The config's run (its batch size and accumulation, model, optimizer and precision) trains from its
    initial weights on consecutive training batches, with the rate of step ``k`` set to the ``k``-th of
    ``steps`` rates, until the last rate or until the loss diverges: it is not finite, or its smoothed
    value exceeds ``diverge`` times its lowest. The loss recorded for a rate is the loss after the step at
    that rate, on the next batch; the curve read is its bias-corrected moving average (weight ``smooth``).
    Two rates are suggested: the rate of the smoothed loss's minimum divided by 10 (``min10``), and where
    it falls fastest against the log of the rate (``steepest``). The test's weights are thrown
    away: ``model`` (copied) and any run directory are left as they were. The config's schedule and
    learning-rate scaling are ignored (a note says so). Under ``torchrun`` the workers agree on one curve.

    Args:
        config: a :class:`Config`, a nested dict like the YAML file, or a YAML path (``None``: the defaults).
        overrides: ``dotted.key=value`` strings, as ``--set``.
        model: a module to test instead of the config's model (see :func:`fit`); it is not modified.
        min_lr: the first rate (> 0).
        max_lr: the last rate (> ``min_lr``).
        steps: rates tried, one optimizer step each (at least 10).
        mode: ``exp`` (rates evenly spaced in their logarithm) or ``linear``.
        smooth: weight of the past in the moving average of the loss, in ``[0, 1)``.
        diverge: stop when the smoothed loss exceeds this multiple of its lowest value (> 1).
        rule: the suggestion returned as ``result.suggested_lr``: ``min10`` (default) or ``steepest``.
        run_dir: write ``lr_find.csv``, ``lr_find.json`` and ``plots/lr_find.png`` here (a new folder, an
            earlier range test's, or a run directory: only these files are added). ``None`` writes nothing.
        apply: also write ``lr_find_config.yaml``: the config with ``train.optimizer.lr`` set to the
            suggestion of ``rule`` (needs ``run_dir``).
        plots: draw ``plots/lr_find.png`` (when ``run_dir`` is given).
        callbacks: extra training-loop callbacks.

    Returns:
        The curve, both suggestions, notes and run facts (:class:`~batchlab.lr_range.LRFindResult`).

    Raises:
        ConfigError: a setting out of range (``min_lr >= max_lr``, fewer than 10 steps, ...) or a config
            mistake, before anything runs or is written.

    Example:
        >>> import batchlab
        >>> result = batchlab.lr_find({"data": {"source": "digits"}}, steps=60)  # doctest: +SKIP
        >>> result.suggestion.steepest, result.suggestion.minimum_tenth  # doctest: +SKIP
    """
    from batchlab.lr_range.range_test import RangeSettings, run_lr_find

    settings = RangeSettings(min_lr=min_lr, max_lr=max_lr, steps=steps, mode=mode, smooth=smooth, diverge=diverge)
    cfg = resolve_config(config, overrides)
    result = run_lr_find(cfg, settings, rule=rule, model=model, run_dir=run_dir, apply=apply, callbacks=callbacks)
    if plots and result.run_dir is not None and _is_main_process():
        from batchlab.lr_range.files import PLOT_FILE
        from batchlab.report.lr_plots import plot_range_test

        result.files.append(plot_range_test(result.to_dict(), result.run_dir / PLOT_FILE))
    return result
