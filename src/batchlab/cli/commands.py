"""Commands on runs: train, evaluate, predict, report, datasets."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from batchlab.cli.app import app, console, user_errors
from batchlab.errors import BatchlabError, ConfigError
from batchlab.plural import counted

__all__ = ["datasets", "evaluate", "predict", "report", "train"]


@app.command()
@user_errors
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config file (optional with --resume).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config field: --set train.batch_size=128 (repeatable)."),
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Run directory (default runs/<name>-<time>).")
    ] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue a run from its latest checkpoint.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or epoch table.")] = False,
    plots: Annotated[bool, typer.Option(help="Draw plots/learning_curves.png.")] = True,
    nproc: Annotated[
        int, typer.Option("--nproc", min=1, help="Data-parallel processes on this machine (launches torchrun).")
    ] = 1,
) -> None:
    """Train a model from CONFIG, evaluate it on the test split and write a run directory."""
    from batchlab.api import fit
    from batchlab.train.distributed import DistributedInfo, launch_torchrun

    workers = DistributedInfo.from_env()
    if nproc > 1 and not workers.enabled:
        _check_before_launch(config, list(set_ or []), resume, nproc)
        raise typer.Exit(launch_torchrun(nproc, _without_nproc(sys.argv[1:])))

    if config is None and resume is None:
        raise BatchlabError("train: give a CONFIG file, or --resume RUN_DIR")
    overrides = list(set_ or [])
    if resume is not None and config is None:
        # --set on a resumed run: only train.epochs / train.max_steps may change (to train a run longer).
        result = fit(None, overrides=overrides, resume=resume, progress=not quiet, plots=plots, console=console)
    else:
        result = fit(
            config,
            overrides=overrides,
            run_dir=run_dir,
            resume=resume,
            progress=not quiet,
            plots=plots,
            console=console,
        )
    if not workers.is_main:
        return
    if result.already_finished:
        reason = result.info.get("stop_reason") or result.info.get("status")
        longer = "To train it longer: --set train.epochs=N or train.max_steps=N"
        if result.info.get("status") == "diverged":
            longer = "Start a new run with a lower train.optimizer.lr or with train.grad_clip"
        console.print(
            f"Run {result.run_dir} is finished ({reason}); nothing changed. {longer}", soft_wrap=True, markup=False
        )
        return
    if result.test_metrics:
        console.print("Test: " + _metrics_line(result.test_metrics), soft_wrap=True)
    console.print(f"Run directory: {result.run_dir}")


@app.command()
@user_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `batchlab train`.")],
    data: Annotated[Path | None, typer.Option("--data", help="A labelled file in the training data's format.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Metrics of a trained run on its test split (or on --data FILE)."""
    from batchlab.api import evaluate as evaluate_run

    metrics = evaluate_run(run_dir, data)
    if json_out:
        console.print_json(json.dumps(metrics))
        return
    from batchlab.report.tables import confusion_table

    console.print(_metrics_line(metrics))
    if "confusion_matrix" in metrics:
        console.print(confusion_table(metrics["confusion_matrix"], _classes(run_dir)))


@app.command()
@user_errors
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `batchlab train`.")],
    source: Annotated[Path, typer.Argument(help="Input file or image folder, in the training data's format.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")],
) -> None:
    """Apply the run's preprocessing and model to new data; write predictions as CSV."""
    from batchlab.api import predict as predict_run

    rows = predict_run(run_dir, source, output)
    console.print(f"Wrote {counted(rows, 'prediction')} to {output}")


@app.command()
@user_errors
def report(
    path: Annotated[
        Path, typer.Argument(help="A run, study (batch-size, lr-vs-batch), tuning or range-test directory.")
    ],
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write one self-contained HTML page (figures embedded) to this file."),
    ] = None,
) -> None:
    """Summarize a run, a study or a range test: tables, test metrics, conclusions; redraw its plots (and
    write an HTML page)."""
    from batchlab.report.summary import report_path

    if html is not None:
        from batchlab.report.html import check_html_output

        check_html_output(html)  # a bad --html fails before the terminal report, not after it
    report_path(path, console)
    if html is not None:
        from batchlab.report.html import write_html_report

        console.print(f"HTML report: {write_html_report(path, html)}", markup=False, soft_wrap=True)


@app.command()
@user_errors
def datasets() -> None:
    """List the built-in datasets (bundled with scikit-learn; no download)."""
    from batchlab.report.tables import datasets_table

    console.print(datasets_table())


def _check_before_launch(config: Path | None, overrides: list[str], resume: Path | None, nproc: int) -> None:
    """Config mistakes surface as one line here rather than once per worker under torchrun."""
    from batchlab.config import load_config
    from batchlab.experiment.rundir import RunDirectory
    from batchlab.train.distributed import per_worker_batch

    cpus = os.cpu_count() or 1
    limit = max(4 * cpus, _gpu_count())
    if nproc > limit:
        raise ConfigError(
            f"--nproc: {nproc} processes would far oversubscribe this machine ({cpus} CPUs, {_gpu_count()} GPUs); "
            f"use at most {limit}"
        )
    if config is not None:
        cfg = load_config(config, overrides)
    elif resume is not None:
        from batchlab.config import make_config

        cfg = make_config(RunDirectory(resume).read_config(), overrides)
    else:
        return
    if isinstance(cfg.train.batch_size, int):
        per_worker_batch(cfg.train.batch_size, nproc)


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line minus ``--nproc N`` / ``--nproc=N`` (the launched workers must not launch again)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def _metrics_line(metrics: dict[str, Any]) -> str:
    order = ["accuracy", "f1_macro", "precision_macro", "recall_macro", "r2", "mse", "mae", "loss", "bpc", "perplexity"]
    parts = [f"{k} {metrics[k]:.4f}" for k in order if isinstance(metrics.get(k), (int, float))]
    if "samples" in metrics:
        parts.append(f"({counted(int(metrics['samples']), 'sample')})")
    return ", ".join(parts[:-1]) + " " + parts[-1] if len(parts) > 1 else "".join(parts)


def _classes(run_dir: Path) -> list[str] | None:
    try:
        info = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    classes = info.get("classes")
    return list(classes) if classes else None
