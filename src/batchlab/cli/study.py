"""``batchlab study``: batch-size sweeps, the gradient noise scale, and the largest micro-batch that fits.

::

    batchlab study batch-size CONFIG --sizes 1,8,32,full --target val_accuracy=0.95 [--seeds 3]
        [--budget 20epochs|5000steps|1e6samples|2e6tokens] [--lr-scaling none|linear|sqrt] [--base-batch 32]
        [--warmup 200steps] [--evals-per-epoch 4] [--stop-at-target] [--study-dir DIR] [--set k=v ...]
        [--vary model.norm=batch,group,none]
    batchlab study batch-size TEXT_CONFIG --sizes 2^9..2^13tokens --target val_accuracy=0.95 [--base-batch 2048tokens]
    batchlab study noise-scale CONFIG [--every-steps 10] [--micro-batches 4] [--study-dir DIR] ...
        [--hessian [--hessian-samples 512] [--hessian-groups 64] [--hessian-every 100]]
    batchlab study max-batch CONFIG [--memory 4GB] [--effective-batch 1024] [--safety 0.1] [--study-dir DIR]
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from batchlab.cli.app import app, console, user_errors
from batchlab.errors import ConfigError
from batchlab.plural import counted

if TYPE_CHECKING:
    from batchlab.study.cell import CellSettings
    from batchlab.study.max_batch import MaxBatchResult

__all__ = ["study_app"]

study_app = typer.Typer(
    help="Batch-size studies: sweep sizes, estimate the gradient noise scale, find the largest micro-batch.",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")

ConfigArg = Annotated[Path, typer.Argument(help="YAML config file.")]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config field: --set train.epochs=5 (repeatable).")
]
StudyDirOption = Annotated[
    Path | None, typer.Option("--study-dir", help="Study directory (default studies/<config name>).")
]
BudgetOption = Annotated[
    str | None,
    typer.Option(
        "--budget",
        help="Training per cell: 20epochs, 5000steps, 1e6samples or (text) 2e6tokens (default: the config's).",
    ),
]
LrScalingOption = Annotated[
    str | None, typer.Option("--lr-scaling", help="Learning rate vs batch size: none, linear or sqrt.")
]
BaseBatchOption = Annotated[
    str | None,
    typer.Option(
        "--base-batch",
        help="Batch size the config's lr was set for, in the study's unit: 32, or 2048tokens for a token study "
        "(default: the config's batch size).",
    ),
]
WarmupOption = Annotated[
    str | None,
    typer.Option("--warmup", help="Linear warmup per cell: 200steps, 1epochs, 5e4samples or (text) 1e5tokens."),
]
EvalsOption = Annotated[
    int, typer.Option("--evals-per-epoch", min=1, help="Validations per epoch (resolution of steps to target).")
]
TargetOption = Annotated[
    str | None, typer.Option("--target", help="Metric value to reach, e.g. val_accuracy=0.95 or val_loss=0.1.")
]
ProgressOption = Annotated[bool, typer.Option("--progress", help="Show each run's progress bar and table.")]


@study_app.command("batch-size")
@user_errors
def batch_size(
    config: ConfigArg,
    sizes: Annotated[
        str,
        typer.Option(
            "--sizes",
            help="Batch sizes: 1,8,32,128,full or a range 2^0..2^12 (clipped to the data); for text also token "
            "budgets 512tokens,2048tokens or 2^9..2^13tokens (one unit per study).",
        ),
    ] = "2^0..2^10,full",
    target: TargetOption = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds per size: a count (3) or a list (0,1,2).")] = "1",
    budget: BudgetOption = None,
    lr_scaling: LrScalingOption = None,
    base_batch: BaseBatchOption = None,
    warmup: WarmupOption = None,
    evals_per_epoch: EvalsOption = 4,
    stop_at_target: Annotated[
        bool, typer.Option("--stop-at-target", help="End each run when it reaches the target (saves time).")
    ] = False,
    early_stopping: Annotated[
        bool, typer.Option("--early-stopping", help="Keep the config's early stopping (off by default).")
    ] = False,
    vary: Annotated[
        str | None,
        typer.Option(
            "--vary",
            help="One sweep per value of a config field, compared in one table and overlaid plots: "
            "model.norm=batch,group,none (any field, a comma list of values).",
        ),
    ] = None,
    study_dir: StudyDirOption = None,
    set_: SetOption = None,
    progress: ProgressOption = False,
) -> None:
    """Train CONFIG at each batch size and seed; compare steps, samples and seconds to the target."""
    from batchlab.config import load_config
    from batchlab.report.study_summary import report_batch_size_study
    from batchlab.study.batch_size import BatchSizeStudy, run_batch_size_study
    from batchlab.study.sizes import parse_sizes
    from batchlab.study.targets import parse_target

    cfg = load_config(config, list(set_ or []))
    study = BatchSizeStudy(
        sizes=tuple(parse_sizes(sizes)),
        seeds=tuple(_parse_seeds(seeds, cfg.train.seed)),
        target=parse_target(target) if target else None,
        settings=_settings(budget, lr_scaling, base_batch, warmup, evals_per_epoch, stop_at_target, early_stopping),
    )
    directory = study_dir or Path("studies") / cfg.name
    if vary is not None:
        from batchlab.report.variant_report import report_variant_study
        from batchlab.study.variants import parse_vary, run_variant_study

        variation = parse_vary(vary)
        run_variant_study(cfg, study, directory, variation, progress=progress, console=console, command=_command())
        report_variant_study(directory, console)
        return
    run_batch_size_study(cfg, study, directory, progress=progress, console=console, command=_command())
    report_batch_size_study(directory, console)


@study_app.command("noise-scale")
@user_errors
def noise_scale(
    config: ConfigArg,
    every_steps: Annotated[
        int | None, typer.Option("--every-steps", min=1, help="Optimizer steps between measurements [config: 10].")
    ] = None,
    micro_batches: Annotated[
        int | None,
        typer.Option(
            "--micro-batches", min=2, help="Micro-batches per measurement, B_big = this x B_small [config: 4]."
        ),
    ] = None,
    micro_batch_size: Annotated[
        int | None, typer.Option("--micro-batch-size", min=1, help="B_small in samples (default: the batch size).")
    ] = None,
    ema: Annotated[
        float | None,
        typer.Option("--ema", min=0.0, max=0.999, help="Moving-average decay per measurement [config: 0.9]."),
    ] = None,
    hessian: Annotated[
        bool,
        typer.Option(
            "--hessian",
            help="Also measure the Hessian-aware B_noise = tr(H Sigma)/(G^T H G) and the batch at the trained rate "
            "(when the target is first reached, else at the end).",
        ),
    ] = False,
    hessian_samples: Annotated[
        int, typer.Option("--hessian-samples", min=2, help="Training examples per B_noise measurement.")
    ] = 512,
    hessian_groups: Annotated[
        int,
        typer.Option(
            "--hessian-groups",
            min=2,
            help="Groups of those examples: Hessian-vector products per measurement (= samples: per example).",
        ),
    ] = 64,
    hessian_every: Annotated[
        int | None, typer.Option("--hessian-every", min=1, help="Also measure B_noise every N optimizer steps.")
    ] = None,
    target: TargetOption = None,
    budget: BudgetOption = None,
    lr_scaling: LrScalingOption = None,
    base_batch: BaseBatchOption = None,
    warmup: WarmupOption = None,
    evals_per_epoch: EvalsOption = 4,
    study_dir: StudyDirOption = None,
    set_: SetOption = None,
    progress: ProgressOption = False,
) -> None:
    """Train CONFIG once while estimating the gradient noise scale B_simple (the predicted critical batch)."""
    if hessian and hessian_groups > hessian_samples:
        raise ConfigError(
            f"--hessian-groups: {hessian_groups} groups cannot be formed from --hessian-samples {hessian_samples}; "
            "use at most as many groups as samples"
        )
    from batchlab.config import load_config
    from batchlab.report.study_summary import report_batch_size_study
    from batchlab.study.noise_run import NoiseSettings, run_noise_scale_study
    from batchlab.study.targets import parse_target

    cfg = load_config(config, list(set_ or []))
    directory = study_dir or Path("studies") / cfg.name
    run_noise_scale_study(
        cfg,
        directory,
        noise=NoiseSettings.from_config(
            cfg.train.noise_scale,
            every_steps=every_steps,
            micro_batches=micro_batches,
            micro_batch_size=micro_batch_size,
            ema=ema,
            hessian_samples=hessian_samples if hessian else None,
            hessian_groups=hessian_groups,
            hessian_every=hessian_every,
        ),
        settings=_settings(budget, lr_scaling, base_batch, warmup, evals_per_epoch, False, False),
        target=parse_target(target) if target else None,
        progress=progress,
        console=console,
    )
    report_batch_size_study(directory, console)


@study_app.command("max-batch")
@user_errors
def max_batch(
    config: ConfigArg,
    memory: Annotated[
        str | None,
        typer.Option("--memory", help="Memory limit: 4GB, 2GiB, 512MiB (default: the GPU's memory, or free RAM)."),
    ] = None,
    effective_batch: Annotated[
        int | None,
        typer.Option("--effective-batch", min=1, help="Desired samples per optimizer step (default: the config's)."),
    ] = None,
    safety: Annotated[float, typer.Option("--safety", min=0.0, max=0.9, help="Fraction of the limit kept free.")] = 0.1,
    verify_steps: Annotated[
        int, typer.Option("--verify-steps", min=0, help="Real optimizer steps that check the proposal.")
    ] = 2,
    study_dir: Annotated[
        Path | None,
        typer.Option(
            "--study-dir",
            help="Also keep the result as STUDY_DIR/max_batch.json, e.g. beside a batch-size study "
            "(default: print only).",
        ),
    ] = None,
    set_: SetOption = None,
) -> None:
    """Find the largest micro-batch whose training and validation step fit in memory; propose accumulation."""
    from batchlab.config import load_config
    from batchlab.study.max_batch import find_max_batch_for_config, write_max_batch
    from batchlab.study.memory import parse_memory

    cfg = load_config(config, list(set_ or []))
    result = find_max_batch_for_config(
        cfg,
        memory=parse_memory(memory) if memory else None,
        effective_batch=effective_batch,
        safety=safety,
        verify_steps=verify_steps,
        console=console,
    )
    _print_max_batch(result)
    if study_dir is not None:
        console.print(f"Result: {write_max_batch(study_dir, cfg, result)}", soft_wrap=True)


def _print_max_batch(result: MaxBatchResult) -> None:
    from rich.table import Table

    mib = 2.0**20
    console.print("Probes (each: one training step and one validation batch, fresh model and optimizer):")
    table = Table(header_style="bold", show_edge=False)
    for column in ("micro-batch", "peak MiB", "fits"):
        table.add_column(column, justify="right")
    for probe in result.probes:
        peak = "-" if probe.peak_bytes is None else f"{probe.peak_bytes / mib:,.0f}"
        if not probe.measured:
            peak += " (predicted, not run)"
        table.add_row(f"{probe.micro_batch:,}", peak, "yes" if probe.fits else ("OOM" if probe.error else "no"))
    console.print(table)
    budget = f"{result.budget_bytes / mib:,.0f} MiB"
    if result.max_micro_batch < 1:
        console.print(f"Not even a micro-batch of one sample fits in {budget} on {result.device}.")
        return
    bound = " (the whole training split; memory is not the limit)" if result.limited_by_data else ""
    best = counted(result.max_micro_batch, "sample")
    console.print(f"Largest micro-batch within {budget} on {result.device}: {best}{bound}.")
    plan = result.plan
    if plan is not None:
        exact = "" if plan.exact else f" (nearest to the requested {result.desired_effective:,})"
        console.print(
            f"For an effective batch of {plan.effective_batch:,}{exact}: micro-batch {plan.micro_batch:,} x "
            f"accumulate {plan.accumulate}  ->  --set train.batch_size={plan.micro_batch} "
            f"--set train.accumulate={plan.accumulate}",
            soft_wrap=True,
        )
    if result.verified is not None:
        verdict = "within" if result.verified_fits else "OVER"
        console.print(
            f"Verified with real steps: peak {result.verified / mib:,.0f} MiB, {verdict} the budget of {budget}."
        )
    for note in result.notes:
        console.print(f"Note: {note}")


def _settings(
    budget: str | None,
    lr_scaling: str | None,
    base_batch: str | None,
    warmup: str | None,
    evals_per_epoch: int,
    stop_at_target: bool,
    early_stopping: bool,
) -> CellSettings:
    from batchlab.errors import did_you_mean
    from batchlab.study.budget import parse_budget
    from batchlab.study.cell import CellSettings

    if lr_scaling is not None and lr_scaling not in ("none", "linear", "sqrt"):
        raise ConfigError(
            f"--lr-scaling: unknown rule {lr_scaling!r}; {did_you_mean(lr_scaling, ['none', 'linear', 'sqrt'])}"
        )
    return CellSettings(
        budget=parse_budget(budget) if budget else None,
        lr_rule=lr_scaling,
        base_batch=_parse_base_batch(base_batch) if base_batch is not None else None,
        warmup=parse_budget(warmup, option="--warmup", default_unit="steps") if warmup else None,
        evals_per_epoch=evals_per_epoch,
        stop_at_target=stop_at_target,
        early_stopping=early_stopping,
    )


def _parse_base_batch(text: str) -> int | str:
    """``32`` (samples) or ``2048tokens`` (a token budget)."""
    value = text.strip().lower()
    match = re.fullmatch(r"(\d+)\s*(tokens?)?", value)
    if not match or int(match.group(1)) < 1:
        raise ConfigError(
            f"--base-batch: expected a positive number of samples (32) or of tokens (2048tokens), got {text!r}"
        )
    return f"{int(match.group(1))}tokens" if match.group(2) else int(match.group(1))


def _parse_seeds(text: str, first: int) -> list[int]:
    """``3`` -> three seeds from the config's seed; ``0,5,9`` -> those seeds."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--seeds: expected a count such as 3 or a list such as 0,1,2, got {text!r}") from None
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise ConfigError(f"--seeds: the count must be at least 1, got {values[0]}")
        return [first + i for i in range(values[0])]
    if not values or len(set(values)) != len(values):
        raise ConfigError(f"--seeds: expected distinct seeds, got {text!r}")
    return values


def _command() -> str:
    return "batchlab " + " ".join(shlex.quote(a) for a in sys.argv[1:])
