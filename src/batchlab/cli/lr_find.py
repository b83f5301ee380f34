"""``batchlab lr-find``: the learning-rate range test of a config, and ``batchlab study lr-vs-batch``: one
at each batch size, with the exponent of the best rate against the batch.

::

    batchlab lr-find CONFIG [--min 1e-7] [--max 10] [--steps 100] [--mode exp|linear] [--smooth 0.98]
        [--diverge 4] [--rule min10|steepest] [--run-dir DIR] [--apply] [--nproc N] [--set k=v ...]
    batchlab study lr-vs-batch CONFIG --sizes 8,32,128,512 [--seeds 3] [--rule min10|steepest]
        [--min ...] [--max ...] [--steps ...] [--study-dir DIR] [--set k=v ...]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from batchlab.cli.app import app, console, user_errors
from batchlab.cli.study import study_app

if TYPE_CHECKING:
    from batchlab.lr_range.range_test import LRFindResult, RangeSettings

__all__ = ["lr_find", "lr_vs_batch"]

MinOption = Annotated[float, typer.Option("--min", help="First learning rate.")]
MaxOption = Annotated[float, typer.Option("--max", help="Last learning rate (the test stops earlier if it diverges).")]
StepsOption = Annotated[int, typer.Option("--steps", help="Rates tried, one optimizer step each (at least 10).")]
ModeOption = Annotated[str, typer.Option("--mode", help="Spacing of the rates: exp (in their logarithm) or linear.")]
SmoothOption = Annotated[
    float, typer.Option("--smooth", help="Weight of the past in the moving average of the loss, in [0, 1).")
]
DivergeOption = Annotated[
    float, typer.Option("--diverge", help="Stop when the smoothed loss exceeds this multiple of its lowest value.")
]
RuleOption = Annotated[
    str,
    typer.Option(
        "--rule",
        help="The suggestion to apply: steepest (steepest descent of the smoothed loss) or min10 (minimum/10).",
    ),
]


@app.command("lr-find")
@user_errors
def lr_find(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    min_lr: MinOption = 1e-7,
    max_lr: MaxOption = 10.0,
    steps: StepsOption = 100,
    mode: ModeOption = "exp",
    smooth: SmoothOption = 0.98,
    diverge: DivergeOption = 4.0,
    rule: RuleOption = "min10",
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run-dir",
            help="Folder for lr_find.csv, lr_find.json and plots/lr_find.png (default runs/<name>-lr-find-<time>); "
            "a run directory only gets these files added.",
        ),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Also write lr_find_config.yaml: the config with the suggested rate.")
    ] = False,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config field: --set train.batch_size=128.")
    ] = None,
    nproc: Annotated[
        int, typer.Option("--nproc", min=1, help="Data-parallel processes on this machine (launches torchrun).")
    ] = 1,
    plots: Annotated[bool, typer.Option(help="Draw plots/lr_find.png.")] = True,
) -> None:
    """Raise the learning rate step by step from --min to --max and suggest a rate from the loss curve.

    From the config's initial weights, one optimizer step per rate on consecutive training batches (the
    config's batch size, accumulation, optimizer, model and precision). The loss after each step is
    smoothed (bias-corrected moving average) and the test stops when it diverges (--diverge times its
    lowest value). Two suggestions: the steepest descent of the smoothed loss and its minimum / 10. The
    config's schedule is ignored. Nothing is trained for real: the test's weights are thrown away.
    """
    from batchlab.config import load_config
    from batchlab.lr_range.range_test import RangeSettings, check_rule
    from batchlab.train.distributed import DistributedInfo, launch_torchrun, per_worker_batch

    settings = RangeSettings(min_lr=min_lr, max_lr=max_lr, steps=steps, mode=mode, smooth=smooth, diverge=diverge)
    rule = check_rule(rule)
    cfg = load_config(config, list(set_ or []))
    workers = DistributedInfo.from_env()
    directory = run_dir if run_dir is not None else _default_dir(cfg.name)
    if nproc > 1 and not workers.enabled:
        if isinstance(cfg.train.batch_size, int):
            per_worker_batch(cfg.train.batch_size, nproc)
        argv = [*_without(sys.argv[1:], "--nproc", "--run-dir"), "--run-dir", str(directory)]
        raise typer.Exit(launch_torchrun(nproc, argv))

    from batchlab.api import lr_find as run

    callbacks = [_progress()] if workers.is_main and console.is_terminal else []
    result = run(cfg, run_dir=directory, apply=apply, rule=rule, plots=plots, callbacks=callbacks, **_kwargs(settings))
    if workers.is_main:
        _print(result, config, list(set_ or []), apply)


def _kwargs(settings: RangeSettings) -> dict[str, Any]:
    return {
        "min_lr": settings.min_lr,
        "max_lr": settings.max_lr,
        "steps": settings.steps,
        "mode": settings.mode,
        "smooth": settings.smooth,
        "diverge": settings.diverge,
    }


def _print(result: LRFindResult, config: Path, overrides: list[str], apply: bool) -> None:
    from batchlab.lr_range.curve import RULES
    from batchlab.lr_range.files import APPLIED_CONFIG
    from batchlab.report.lr_summary import range_test_lines

    for line in range_test_lines(result.to_dict()):
        console.print(line, soft_wrap=True, markup=False)
    folder = result.run_dir
    if folder is not None:
        names = ", ".join(str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p) for p in result.files)
        console.print(f"Files: {names} in {folder}", soft_wrap=True, markup=False)
    rate = result.suggested_lr
    if rate is None:
        console.print(
            f"Nothing to apply: the {RULES[result.rule]} gives no rate for this curve"
            + (" (--apply wrote no config)" if apply else ""),
            soft_wrap=True,
        )
        return
    if apply and folder is not None:
        console.print(
            f"Applied: {folder / APPLIED_CONFIG} is the config with train.optimizer.lr = {rate:.3g} "
            f"({RULES[result.rule]}); train it with: batchlab train {folder / APPLIED_CONFIG}",
            soft_wrap=True,
            markup=False,
        )
        return
    sets = "".join(f" --set {o}" for o in overrides)
    console.print(
        f"To train with it: batchlab train {config}{sets} --set train.optimizer.lr={rate:.3g}  (or lr-find --apply)",
        soft_wrap=True,
        markup=False,
    )


def _default_dir(name: str) -> Path:
    from batchlab.experiment.rundir import default_run_path

    return default_run_path(f"{name}-lr-find")


def _without(argv: list[str], *options: str) -> list[str]:
    """``argv`` minus each ``--option VALUE`` / ``--option=VALUE`` of ``options``."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not any(arg.startswith(f"{o}=") for o in options):
            kept.append(arg)
    return kept


def _progress() -> Any:
    """A transient bar on a terminal: the range test's step and rate (a loop callback)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from batchlab.train.callbacks import Callback

    class RangeProgress(Callback):
        def __init__(self) -> None:
            columns = (
                TextColumn("range test"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("lr {task.fields[lr]}"),
            )
            self.progress = Progress(*columns, console=console, transient=True)
            self.task: Any = None

        def on_train_begin(self, state: Any) -> None:
            self.progress.start()
            total = int(self.context.info.get("range_steps", state.total_steps))
            self.task = self.progress.add_task("range", total=total, lr="-")

        def on_step_end(self, state: Any) -> None:
            self.progress.update(self.task, completed=max(0, state.step - 1), lr=f"{self.context.lr:.3g}")

        def on_train_end(self, state: Any) -> None:
            self.progress.stop()

    return RangeProgress()


@study_app.command("lr-vs-batch")
@user_errors
def lr_vs_batch(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    sizes: Annotated[
        str,
        typer.Option(
            "--sizes",
            help="Batch sizes: 8,32,128,512, a range 2^3..2^9 or full (clipped to the data); for text also token "
            "budgets 512tokens,2048tokens (one unit per study).",
        ),
    ] = "8,32,128,512",
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds per size: a count (3) or a list (0,1,2).")] = "1",
    min_lr: MinOption = 1e-7,
    max_lr: MaxOption = 10.0,
    steps: StepsOption = 100,
    mode: ModeOption = "exp",
    smooth: SmoothOption = 0.98,
    diverge: DivergeOption = 4.0,
    rule: Annotated[
        str,
        typer.Option("--rule", help="The suggestion fitted against the batch size: min10 or steepest (both are kept)."),
    ] = "min10",
    study_dir: Annotated[
        Path | None, typer.Option("--study-dir", help="Study directory (default studies/<config name>-lr).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config field: --set train.optimizer.name=adam.")
    ] = None,
) -> None:
    """A range test at each batch size and seed; the exponent of the best rate against the batch size.

    Fits log(suggested rate) against log(batch) by least squares, with a t-interval of the exponent, and
    says which scaling rule (linear: 1, square root: 1/2) the measurement supports, over which sizes.
    Resumable: finished range tests are kept. `batchlab report STUDY_DIR` prints it again.
    """
    from batchlab.cli.study import _command, _parse_seeds
    from batchlab.config import load_config
    from batchlab.lr_range.range_test import RangeSettings, check_rule
    from batchlab.report.lr_study import report_lr_batch_study
    from batchlab.study.lr_batch import LRBatchStudy, run_lr_batch_study
    from batchlab.study.sizes import parse_sizes

    settings = RangeSettings(min_lr=min_lr, max_lr=max_lr, steps=steps, mode=mode, smooth=smooth, diverge=diverge)
    cfg = load_config(config, list(set_ or []))
    study = LRBatchStudy(
        sizes=tuple(parse_sizes(sizes)),
        seeds=tuple(_parse_seeds(seeds, cfg.train.seed)),
        settings=settings,
        rule=check_rule(rule),
    )
    directory = study_dir or Path("studies") / f"{cfg.name}-lr"
    run_lr_batch_study(cfg, study, directory, console=console, command=_command())
    report_lr_batch_study(directory, console, rule=study.rule)
