"""``batchlab report RUN_DIR``: print a run's summary and redraw its plots (learning curves; example
spectrograms of audio runs)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from batchlab.errors import BatchlabError
from batchlab.experiment.rundir import RunDirectory
from batchlab.report.plots import plot_learning_curves, plot_spectrograms
from batchlab.report.tables import confusion_table, metrics_table

if TYPE_CHECKING:
    from batchlab.data.prepared import PreparedData

__all__ = [
    "SPECTROGRAM_EXAMPLES",
    "plot_run_spectrograms",
    "plot_split_spectrograms",
    "read_metrics_csv",
    "report_path",
    "report_run",
]

SPECTROGRAM_EXAMPLES = 8
"""Recordings drawn in an audio run's ``plots/spectrograms.png``."""


def read_metrics_csv(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``metrics.csv`` with numbers parsed (empty cells become ``None``).

    Raises:
        CheckpointError: the file is not UTF-8 CSV text with batchlab's header (``epoch,step,...``).
    """
    from batchlab.errors import CheckpointError

    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = [{k: _number(v) for k, v in row.items()} for row in reader]
            header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CheckpointError(f"{str(path)!r} is not a metrics table ({exc.__class__.__name__}); damaged?") from None
    if rows and not {"epoch", "step"} <= set(header):
        raise CheckpointError(
            f"{str(path)!r} is not a metrics table: its header {','.join(map(str, header))[:80]!r} lacks epoch and "
            "step; damaged? batchlab train writes it"
        )
    return rows


def report_path(path: str | Path, console: Console) -> None:
    """Report whatever ``path`` holds: a run directory, a study, a tuning study or a range test.

    A run directory has ``run.json``; a batch-size or learning-rate study ``study.json`` (its ``kind``
    tells which); a variant study (``--vary``) ``variants.json``; a tuning study ``tune.json``; a range
    test ``lr_find.json`` (alone, or in a run directory, which then reports both).
    """
    from batchlab.errors import CheckpointError

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{str(path)!r} does not exist or is not a directory")
    from batchlab.lr_range.files import is_range_directory

    if (path / "study.json").exists():
        from batchlab.study.directory import StudyDirectory

        if StudyDirectory(path).read().get("kind") == "lr-vs-batch":
            from batchlab.report.lr_study import report_lr_batch_study

            report_lr_batch_study(path, console)
            return
        from batchlab.report.study_summary import report_batch_size_study

        report_batch_size_study(path, console)
    elif (path / "variants.json").exists():
        from batchlab.report.variant_report import report_variant_study

        report_variant_study(path, console)
    elif (path / "tune.json").exists():
        from batchlab.report.tune_summary import report_tune_study

        report_tune_study(path, console)
    elif is_range_directory(path) and not (path / "run.json").exists():
        from batchlab.report.lr_summary import report_range_test

        report_range_test(path, console)
    else:
        report_run(path, console)
        if is_range_directory(path):  # a range test written into the run's directory
            from batchlab.report.lr_summary import report_range_test

            report_range_test(path, console)


def report_run(path: str | Path, console: Console) -> None:
    """Print the run's facts, metrics table and test metrics; redraw ``plots/learning_curves.png`` and,
    for an audio run with weights, ``plots/spectrograms.png``."""
    run = RunDirectory(path)
    run.require_run()
    info = run.read_json("run.json")
    rows = read_metrics_csv(run.metrics_file) if run.metrics_file.exists() else []
    console.print(f"[bold]{run.path}[/bold]  status: {info.get('status')}  ({info.get('stop_reason') or '-'})")
    if info.get("summary"):
        console.print(info["summary"])
    if rows:
        console.print(metrics_table(rows))
        plot = plot_learning_curves(
            rows,
            run.plots / "learning_curves.png",
            best_epoch=info.get("best_epoch"),
            stopped_epoch=info.get("stopped_epoch"),
            title=run.path.name,
        )
        console.print(f"Plot: {plot}")
    if info.get("input_spec", {}).get("kind") == "frames" and run.weights_file.exists():
        try:
            drawn = plot_run_spectrograms(run.path)
        except BatchlabError as exc:  # the recordings moved, say: the rest of the report still stands
            console.print(f"Spectrograms not redrawn: {exc}")
        else:
            if drawn is not None:
                console.print(f"Plot: {drawn}")
    if run.test_metrics_file.exists():
        metrics = run.read_json("test_metrics.json")
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        console.print("Test: " + ", ".join(f"{k} {v:.4g}" for k, v in scalars.items()))
        if "confusion_matrix" in metrics:
            console.print(confusion_table(metrics["confusion_matrix"], info.get("classes")))


def plot_run_spectrograms(run_dir: str | Path, *, count: int = SPECTROGRAM_EXAMPLES) -> Path | None:
    """Draw ``plots/spectrograms.png`` of a finished audio run from its saved model and preprocessing.

    The recordings come from the run's test split (rebuilt from its config with the same seed), or its
    validation split when there is no test split.

    Args:
        run_dir: the run directory.
        count: recordings to show.

    Returns:
        The written path, or ``None`` when the run has neither a test nor a validation split.

    Raises:
        BatchlabError: the run or its recordings cannot be loaded.
    """
    from batchlab.data.pipeline import prepare_data
    from batchlab.experiment.inference import load_run

    trained = load_run(run_dir)
    data = prepare_data(trained.config.data, preprocessor=trained.preprocessor)
    return plot_split_spectrograms(
        trained.model,
        trained.eval_transform,
        trained.objective,
        data,
        trained.run.plots / "spectrograms.png",
        name=trained.config.name,
        seed=trained.config.train.seed,
        count=count,
    )


def plot_split_spectrograms(
    model: Any,
    transform: Any,
    objective: Any,
    data: PreparedData,
    path: str | Path,
    *,
    name: str,
    seed: int,
    count: int = SPECTROGRAM_EXAMPLES,
) -> Path | None:
    """Draw ``count`` recordings of the test split (or validation) of audio ``data`` into ``path``.

    Args:
        model: the trained module.
        transform: the run's evaluation transform (waveforms to the model's features).
        objective: the run's objective.
        data: the run's prepared audio data (splits and fitted preprocessor).
        path: the image file.
        name: the run's name, for the title.
        seed: seed of the choice of recordings.
        count: recordings to show.

    Returns:
        ``path``, or ``None`` (nothing drawn) when ``data`` is not audio or has no test or validation split.
    """
    from batchlab.experiment.examples import audio_examples

    split = data.test if data.test is not None and len(data.test) else data.val
    if data.input_spec.kind != "frames" or split is None or not len(split):
        return None
    examples = audio_examples(model, transform, objective, split, data.preprocessor, count=count, seed=seed)  # type: ignore[arg-type]
    which = "test" if split is data.test else "validation"
    return plot_spectrograms(examples, path, title=f"{name}: {which} recordings")


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
