"""The public functions behind ``batchlab`` and the command line: fit, evaluate, predict, generate.

Example:
    >>> import batchlab
    >>> result = batchlab.fit({"data": {"source": "iris"}, "train": {"epochs": 2}},
    ...                       run_dir="runs/doc-example", progress=False)  # doctest: +SKIP
    >>> result.test_metrics["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from batchlab.config import Config, load_config, make_config
from batchlab.experiment.inference import evaluate_run, predict_run
from batchlab.experiment.rundir import RunDirectory
from batchlab.experiment.training import RunResult, train_run
from batchlab.train.callbacks import Callback

__all__ = ["evaluate", "fit", "generate", "predict", "resolve_config"]


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
