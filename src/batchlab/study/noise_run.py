"""``batchlab study noise-scale``: train the config once while estimating the gradient noise scale.

The run is a cell of the study at the config's own batch size and seed (same budget, scaling and
evaluation interval as a batch-size sweep would use), trained with :class:`GradientNoiseScale`. Its result,
``STUDY_DIR/noise_scale.json``, holds every measurement, the metrics curve and the run's cell record, so
that the value of ``B_simple`` when a target is first reached can be read later for any target, and
``batchlab report`` shows the run like any cell (``results.csv``, ``summary.csv``). Beside a batch-size study
in the same directory, the report compares it with the fitted critical batch size instead.

Each measurement holds that measurement's own estimates of ``|G|^2`` and ``tr(Sigma)``; its
``noise_scale`` is ``B_simple`` from their exponential moving averages, a ratio of averages (the average
of the single-measurement ratios would be biased, and can be negative).

On text the estimate is also given in valid tokens (``B_simple x`` the measured tokens per sample; see
:mod:`batchlab.train.callbacks.noise_scale` for why), to compare with the knee of a token-budget study. The
config's batch size may itself be a token budget.
"""

from __future__ import annotations

import datetime as _dt
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.config import NoiseScaleConfig
from batchlab.data.pipeline import prepare_data
from batchlab.plural import counted
from batchlab.study.batch_size import full_batch_plan
from batchlab.study.cell import CellSettings, cell_config, run_cell
from batchlab.study.directory import StudyDirectory
from batchlab.study.hessian_summary import hessian_line, hessian_summary
from batchlab.study.plan import has_tokens
from batchlab.study.sizes import resolve_sizes
from batchlab.study.targets import Target, first_reached

if TYPE_CHECKING:
    from rich.console import Console

    from batchlab.config import Config
    from batchlab.train.callbacks.hessian_noise_scale import HessianNoiseScale

__all__ = ["NOISE_FILE", "NoiseSettings", "noise_cell", "noise_summary", "run_noise_scale_study", "tokens_per_sample"]

NOISE_FILE = "noise_scale.json"


@dataclass(frozen=True)
class NoiseSettings:
    """How the noise scale is measured (see :class:`GradientNoiseScale`).

    Attributes:
        every_steps: optimizer steps between measurements.
        micro_batches: micro-batches per measurement (``B_big = micro_batches * B_small``).
        micro_batch_size: ``B_small`` in samples; ``None``: the training batch size.
        ema: decay of the moving averages per measurement.
        hessian_samples: training examples per Hessian-aware measurement (``B_noise``, see
            :class:`~batchlab.train.callbacks.hessian_noise_scale.HessianNoiseScale`); ``None``: not measured.
        hessian_groups: groups of that sample (Hessian-vector products per measurement).
        hessian_every: also measure ``B_noise`` every this many optimizer steps (``None``: at the target
            only, or at the end without a target).
    """

    every_steps: int = 10
    micro_batches: int = 4
    micro_batch_size: int | None = None
    ema: float = 0.9
    hessian_samples: int | None = None
    hessian_groups: int = 64
    hessian_every: int | None = None

    @classmethod
    def from_config(cls, config: NoiseScaleConfig, **overrides: Any) -> NoiseSettings:
        """The config's ``train.noise_scale`` values, with the non-``None`` ``overrides`` replacing them."""

        def pick(name: str) -> Any:
            value = overrides.get(name)
            return getattr(config, name) if value is None else value

        return cls(
            pick("every_steps"),
            pick("micro_batches"),
            pick("micro_batch_size"),
            pick("ema"),
            overrides.get("hessian_samples"),
            overrides.get("hessian_groups") or 64,
            overrides.get("hessian_every"),
        )

    def to_dict(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "every_steps": self.every_steps,
            "micro_batches": self.micro_batches,
            "micro_batch_size": self.micro_batch_size,
            "ema": self.ema,
        }
        if self.hessian_samples is not None:  # absent otherwise, so earlier results still match their request
            settings["hessian"] = {
                "samples": self.hessian_samples,
                "groups": self.hessian_groups,
                "every_steps": self.hessian_every,
            }
        return settings

    def hessian_callback(self, target: Target | None, seed: int) -> HessianNoiseScale | None:
        """The Hessian-aware measurement of the run, or ``None`` when it is off."""
        if self.hessian_samples is None:
            return None
        from batchlab.train.callbacks.hessian_noise_scale import HessianNoiseScale

        def reached(logs: dict[str, Any]) -> bool:
            value = logs.get(target.metric) if target is not None else None
            return target is not None and value is not None and target.reached(float(value))

        return HessianNoiseScale(
            samples=self.hessian_samples,
            groups=self.hessian_groups,
            reached=reached if target is not None else None,
            every_steps=self.hessian_every,
            seed=seed,
        )


def run_noise_scale_study(
    config: Config,
    study_dir: str | Path,
    *,
    noise: NoiseSettings | None = None,
    settings: CellSettings | None = None,
    target: Target | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Train once with the noise-scale callback and write ``STUDY_DIR/noise_scale.json``.

    A finished estimate with the same settings is kept (the command is resumable); otherwise the run in
    ``STUDY_DIR/noise_scale/`` is trained again from the start.

    Args:
        config: the config to train (its batch size and seed).
        study_dir: the study directory (a batch-size study's, to compare with its knee).
        noise: measurement settings.
        settings: budget, scaling and evaluation interval, as in a batch-size study.
        target: recorded in a new ``study.json`` (the report reads ``B_simple`` when it is reached).
        progress: show the run's progress.
        console: where a line about the result goes.

    Returns:
        The content of ``noise_scale.json``.
    """
    noise = noise or NoiseSettings()
    settings = settings or CellSettings()
    directory = StudyDirectory(study_dir)
    wanted = {"noise": noise.to_dict(), "settings": settings.to_dict(), "config": config.model_dump(mode="json")}
    existing = read_noise(directory.path)
    if existing is not None and existing.get("request") == wanted and noise_cell(existing) is not None:
        if console is not None:
            console.print(f"Noise scale: finished earlier in {directory.path / NOISE_FILE}, kept")
        return existing
    data = prepare_data(config.data)
    full = full_batch_plan(config, data)
    train_samples = full.samples
    full_tokens = full.padded_tokens if has_tokens(data) else None
    size = resolve_sizes([config.train.batch_size], train_samples, full_tokens=full_tokens)[0]
    cell = cell_config(config, size, config.train.seed, settings, train_samples, data=data)
    # The run builder adds the estimator from train.noise_scale (replacing the config's own settings).
    measure = NoiseScaleConfig(
        enabled=True,
        every_steps=noise.every_steps,
        micro_batches=noise.micro_batches,
        micro_batch_size=noise.micro_batch_size,
        ema=noise.ema,
    )
    cell = cell.model_copy(update={"train": cell.train.model_copy(update={"noise_scale": measure})})
    study = {
        "kind": "noise-scale",
        "version": 1,
        "name": config.name,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "train_samples": train_samples,
        "target": {"metric": target.metric, "value": target.value, "mode": target.mode} if target else None,
        "config": config.model_dump(mode="json"),
    }
    with directory.lock():  # one process at a time runs a study directory
        if not directory.exists():
            directory.open(study)
        elif directory.read().get("kind") == "max-batch":  # only a max-batch result so far: now a noise-scale study
            directory.write(study)
        run_dir = directory.path / "noise_scale"
        directory.clear_path(run_dir)
        hessian = noise.hessian_callback(target, config.train.seed)
        extra = (hessian,) if hessian is not None else ()
        run = run_cell(cell, run_dir, data, extra_callbacks=extra, progress=progress, console=console, size=size)
        estimate = run.get("noise") or {"b_small": 0, "b_big": 0, "measurements": []}
        result = {
            "kind": "noise-scale",
            "request": wanted,
            "batch_size": run["effective_batch"],
            **({"token_budget": run["token_budget"]} if run.get("token_budget") else {}),
            "b_small": estimate["b_small"],
            "b_big": estimate["b_big"],
            "every_steps": noise.every_steps,
            "micro_batches": noise.micro_batches,
            "ema": noise.ema,
            "train_samples": train_samples,
            "measurements": estimate["measurements"],
            "curve": run["curve"],
            "final": run["final"],
            "train_seconds": run["train_seconds"],
            "run_dir": str(run_dir),
            # The run as a study cell (its curve is the one above), so that the report can tabulate it.
            "cell": {key: value for key, value in run.items() if key not in ("curve", "noise")},
        }
        if hessian is not None:
            result["hessian"] = {
                "samples": hessian.samples,
                "groups": hessian.groups,
                "every_steps": hessian.every_steps,
                "measurements": hessian.measurements,
            }
        directory.write_json(NOISE_FILE, _finite(result))
        if console is not None:
            summary = noise_summary(result, target)
            in_tokens = summary.get("b_simple_final_tokens")
            tokens = f" ≈ {_fmt(in_tokens)} valid tokens" if in_tokens is not None else ""
            console.print(
                f"Noise scale: B_simple ≈ {_fmt(summary['b_simple_final'])} samples{tokens} at the end of training "
                f"({counted(len(estimate['measurements']), 'measurement')} of {noise.micro_batches} x "
                f"{counted(estimate['b_small'], 'sample')})"
            )
            line = hessian_line(summary.get("hessian"))
            if line:
                console.print(line)
        return result


def read_noise(study_dir: str | Path) -> dict[str, Any] | None:
    """The ``noise_scale.json`` of a study directory, or ``None``."""
    import json

    file = Path(study_dir) / NOISE_FILE
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def noise_cell(noise: dict[str, Any]) -> dict[str, Any] | None:
    """The noise-scale run as a finished study cell (see :func:`batchlab.study.cell.run_cell`), or ``None``
    for a ``noise_scale.json`` written before cells were recorded in it."""
    cell = noise.get("cell")
    if not isinstance(cell, dict):
        return None
    return {**cell, "curve": noise.get("curve", [])}


def noise_summary(noise: dict[str, Any], target: Target | None) -> dict[str, Any]:
    """``B_simple`` at the end, at the first evaluation meeting ``target``, and its median over the second half.

    Returns:
        ``batch_size``, ``b_simple_final``, ``b_simple_at_target`` (``None`` without a target or when not
        reached), ``target_step``, ``b_simple_median_late`` (median of ``B_simple``, the ratio of the
        moving averages, over the second half of the measurements), in samples. On text also
        ``tokens_per_sample`` (valid tokens per measured sample) and the three values in valid tokens,
        ``*_tokens``; and ``token_budget`` when the run's batch size was one. With Hessian-aware
        measurements, ``hessian``: see :func:`hessian_summary`.
    """
    measurements = [m for m in noise.get("measurements", []) if _is_number(m.get("noise_scale"))]
    final = measurements[-1]["noise_scale"] if measurements else None
    at_target, target_step = None, None
    if target is not None:
        hit = first_reached(noise.get("curve", []), target, time_key="train_seconds")
        if hit is not None:
            target_step = hit.step
            before = [m for m in measurements if m["step"] <= hit.step]
            at_target = before[-1]["noise_scale"] if before else None
    late = [m["noise_scale"] for m in measurements[len(measurements) // 2 :]]
    summary = {
        "batch_size": noise.get("batch_size"),
        "b_simple_final": final,
        "b_simple_at_target": at_target,
        "target_step": target_step,
        "b_simple_median_late": statistics.median(late) if late else None,
    }
    summary = {**summary, **_in_tokens(summary, noise)}
    hessian = hessian_summary(noise, target_step, summary.get("tokens_per_sample"))
    if hessian is not None:
        summary["hessian"] = hessian
    return summary


def tokens_per_sample(noise: dict[str, Any]) -> float | None:
    """Valid tokens per sample over all measured micro-batches of a noise-scale run (``None`` without text)."""
    measured = [m for m in noise.get("measurements", []) if _is_number(m.get("tokens"))]
    b_big = noise.get("b_big")
    if not measured or not _is_number(b_big) or not b_big:
        return None
    return sum(float(m["tokens"]) for m in measured) / (len(measured) * float(b_big))


def _in_tokens(summary: dict[str, Any], noise: dict[str, Any]) -> dict[str, Any]:
    """The summary's ``B_simple`` values in valid tokens, for text runs."""
    per_sample = tokens_per_sample(noise)
    extra: dict[str, Any] = {"token_budget": noise["token_budget"]} if noise.get("token_budget") else {}
    if per_sample is None:
        return extra
    extra["tokens_per_sample"] = per_sample
    for key in ("b_simple_final", "b_simple_at_target", "b_simple_median_late"):
        value = summary[key]
        extra[key + "_tokens"] = value * per_sample if _is_number(value) else None
    return extra


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _fmt(value: Any) -> str:
    return f"{value:,.0f}" if _is_number(value) else "n/a"


def _finite(value: Any) -> Any:
    """JSON has no inf or NaN: they become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
