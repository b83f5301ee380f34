"""The largest micro-batch that fits in memory, and micro-batch x accumulation for a desired effective batch.

Unlike finders that only look for the biggest batch that does not crash, this one keeps what matters for
optimization, the effective batch (samples per optimizer step): given a desired effective batch it proposes
``micro_batch x accumulate`` with the largest micro-batch that fits, and verifies it with real steps.

The search (:func:`find_max_batch`) is pure: it calls a *probe* ``probe(micro_batch) -> peak bytes``, which
may raise :class:`MemoryError` (or a CUDA out-of-memory error) when the micro-batch does not fit. Sizes double
from 1 until one fails or exceeds the budget, then a bisection narrows the boundary. Before running a probe,
the peak is predicted from the two largest measured ones (memory grows about linearly with the batch); a
probe predicted far over the budget is not run, so the search does not drive the machine out of memory.

With a study directory the result is kept as ``STUDY_DIR/max_batch.json`` (:func:`write_max_batch`), beside
a batch-size or noise-scale study of the same config or on its own, and ``batchlab report STUDY_DIR`` shows it.

The real probe (:func:`step_probe`) builds a fresh model and optimizer and runs one training step (forward,
backward, optimizer step, so that optimizer state is allocated) and one validation batch through the
training loop, measuring the process's peak RSS on the CPU (see :mod:`batchlab.study.memory`) or the peak
allocated CUDA memory on a GPU.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from batchlab.errors import ConfigError
from batchlab.study.memory import measure_peak

if TYPE_CHECKING:
    from rich.console import Console

    from batchlab.config import Config
    from batchlab.data.pipeline import PreparedData

__all__ = [
    "MAX_BATCH_FILE",
    "AccumulationPlan",
    "MaxBatchResult",
    "Probe",
    "find_max_batch",
    "find_max_batch_for_config",
    "propose_accumulation",
    "read_max_batch",
    "step_probe",
    "write_max_batch",
]

MAX_BATCH_FILE = "max_batch.json"

_PREDICTION_SLACK = 1.5  # a probe predicted above 1.5x the budget is not run


@dataclass(frozen=True)
class Probe:
    """One tried micro-batch.

    Attributes:
        micro_batch: samples per micro-batch.
        peak_bytes: measured (or, when ``measured`` is false, predicted) peak memory, in bytes.
        fits: whether the peak stayed within the budget without an out-of-memory error.
        measured: ``False`` when the probe was skipped because its predicted peak was far over the budget.
        error: the out-of-memory message, if any.
    """

    micro_batch: int
    peak_bytes: int | None
    fits: bool
    measured: bool = True
    error: str | None = None


@dataclass(frozen=True)
class AccumulationPlan:
    """Micro-batches per optimizer step for a desired effective batch.

    Attributes:
        micro_batch: samples per micro-batch (``train.batch_size``).
        accumulate: micro-batches per optimizer step (``train.accumulate``).
        effective_batch: ``micro_batch * accumulate``, samples per optimizer step.
        exact: whether that equals the desired effective batch.
    """

    micro_batch: int
    accumulate: int
    effective_batch: int
    exact: bool


@dataclass
class MaxBatchResult:
    """What the finder found.

    Attributes:
        limit_bytes: the memory limit.
        budget_bytes: the limit minus the safety margin: what a step may use at its peak.
        max_micro_batch: the largest micro-batch found to fit (0 if not even one sample fits).
        probes: every probe, in the order tried.
        device: where it was measured (``cpu`` or ``cuda:N``).
        desired_effective: the effective batch asked for.
        plan: micro-batch x accumulation for it.
        verified: the peak of the verification steps, or ``None`` if not verified.
        verified_fits: whether the verification stayed within the budget.
        limited_by_data: the search stopped at the training split's size, not at memory.
        notes: remarks for people (e.g. a verification that ran out of memory).
        train_samples: samples in the training split (the largest micro-batch searched).
    """

    limit_bytes: int
    budget_bytes: int
    max_micro_batch: int
    probes: list[Probe]
    device: str = "cpu"
    desired_effective: int | None = None
    plan: AccumulationPlan | None = None
    verified: int | None = None
    verified_fits: bool | None = None
    limited_by_data: bool = False
    notes: list[str] = field(default_factory=list)
    train_samples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (probes and plan as nested dicts)."""
        return asdict(self)


def propose_accumulation(max_micro_batch: int, effective_batch: int) -> AccumulationPlan:
    """Split ``effective_batch`` into ``micro_batch x accumulate`` with ``micro_batch <= max_micro_batch``.

    Prefers an exact split with the fewest micro-batches (the largest divisor of ``effective_batch`` that
    fits, among at most twice the minimal accumulation); otherwise rounds the micro-batch up so the
    effective batch is as close as possible above the request.

    >>> propose_accumulation(300, 1024)
    AccumulationPlan(micro_batch=256, accumulate=4, effective_batch=1024, exact=True)
    >>> propose_accumulation(4096, 1000)
    AccumulationPlan(micro_batch=1000, accumulate=1, effective_batch=1000, exact=True)
    >>> propose_accumulation(100, 1009)  # a prime
    AccumulationPlan(micro_batch=92, accumulate=11, effective_batch=1012, exact=False)
    """
    if max_micro_batch < 1:
        raise ValueError("not even a micro-batch of one sample fits")
    if effective_batch < 1:
        raise ValueError(f"effective_batch must be positive, got {effective_batch}")
    least = math.ceil(effective_batch / max_micro_batch)
    for accumulate in range(least, 2 * least + 1):
        if effective_batch % accumulate == 0:
            micro = effective_batch // accumulate
            return AccumulationPlan(micro, accumulate, effective_batch, True)
    micro = math.ceil(effective_batch / least)
    return AccumulationPlan(micro, least, micro * least, False)


def find_max_batch(
    probe: Callable[[int], int],
    *,
    budget_bytes: int,
    largest: int,
    precision: float = 1 / 16,
    smallest: int = 1,
) -> tuple[int, list[Probe]]:
    """The largest micro-batch in ``[smallest, largest]`` whose probe peaks within ``budget_bytes``.

    Args:
        probe: runs a step at a micro-batch and returns its peak memory in bytes; raises
            :class:`MemoryError` or ``torch.OutOfMemoryError`` when it does not fit.
        budget_bytes: the most a step may use at its peak.
        largest: the largest micro-batch worth trying (the training split's size), in samples.
        precision: stop bisecting when the failing size is within this fraction of the fitting one.
        smallest: the first size tried (2 for a model with batch normalization).

    Returns:
        ``(max_micro_batch, probes)``; ``max_micro_batch`` is 0 when even one sample does not fit.
    """
    probes: list[Probe] = []

    def attempt(size: int) -> bool:
        predicted = _predict(probes, size)
        if predicted is not None and predicted > budget_bytes * _PREDICTION_SLACK:
            probes.append(Probe(size, int(predicted), False, measured=False))
            return False
        try:
            peak = int(probe(size))
        except (MemoryError, torch.OutOfMemoryError) as exc:
            probes.append(
                Probe(size, None, False, error=str(exc).splitlines()[0][:200] if str(exc) else "out of memory")
            )
            return False
        fits = peak <= budget_bytes
        probes.append(Probe(size, peak, fits))
        return fits

    good, bad = 0, None
    size = smallest
    while True:
        if attempt(size):
            good = size
            if size >= largest:
                return good, probes
            size = min(size * 2, largest)
        else:
            bad = size
            break
    while bad - good > max(1, int(good * precision)):
        middle = (good + bad) // 2
        if middle < smallest:
            break
        if attempt(middle):
            good = middle
        else:
            bad = middle
    return good, probes


def _predict(probes: list[Probe], size: int) -> float | None:
    """Linear extrapolation of the peak from the two largest measured probes that fit."""
    points = sorted((p.micro_batch, p.peak_bytes) for p in probes if p.measured and p.peak_bytes is not None)
    if len(points) < 2 or size <= points[-1][0]:
        return None
    (b1, m1), (b2, m2) = points[-2], points[-1]
    slope = max(0.0, (m2 - m1) / (b2 - b1))
    return m2 + slope * (size - b2)


def step_probe(
    config: Config, data: PreparedData, device: torch.device, *, accumulate: int = 1, steps: int = 1
) -> Callable[[int], int]:
    """A probe that trains ``steps`` optimizer steps of ``accumulate`` micro-batches plus a validation pass,
    with a fresh model and optimizer built by the run builder (the config's precision, model and
    optimizer), and returns the peak memory in bytes (RSS, or CUDA allocated).
    """
    from batchlab.experiment.builder import build_run
    from batchlab.train.loop import fit

    def probe(micro_batch: int) -> int:
        gc.collect()
        cfg = probe_config(config, micro_batch, accumulate=accumulate, steps=steps)
        with measure_peak(device if device.type == "cuda" else None) as memory:
            parts = build_run(cfg, data=data)
            try:
                fit(
                    parts.model,
                    parts.train,
                    objective=parts.objective,
                    optimizer=parts.optimizer,
                    scheduler=parts.scheduler,
                    val=parts.val,
                    settings=parts.settings,
                )
            except RuntimeError as exc:
                if "out of memory" in str(exc).lower():
                    raise MemoryError(str(exc)) from None
                raise
            del parts
        result = memory.result
        assert result is not None
        if device.type == "cuda" and result.cuda_peak is not None:
            return result.cuda_peak
        return result.peak_rss

    return probe


def probe_config(config: Config, micro_batch: int, *, accumulate: int = 1, steps: int = 1) -> Config:
    """``config`` for a memory probe: the micro-batch, ``steps`` steps, one validation, no checkpoints."""
    from batchlab.config import make_config

    raw = config.model_dump(mode="json")
    train = raw["train"]
    train.update(batch_size=micro_batch, accumulate=accumulate, epochs=None, max_steps=steps, val_every_steps=steps)
    train["checkpoint"] = {"every_steps": None, "every_epochs": None, "every_seconds": None}
    train["early_stopping"]["enabled"] = False
    train["noise_scale"]["enabled"] = False
    return make_config(raw)


def smallest_micro_batch(config: Config, data: PreparedData) -> int:
    """1, or 2 when the model has batch normalization (its statistics need two samples)."""
    from batchlab.experiment.builder import build_run, has_batchnorm

    parts = build_run(probe_config(config, min(2, len(data.train))), data=data)
    return 2 if has_batchnorm(parts.module) else 1


def default_limit(device: torch.device) -> int:
    """The device's total memory on a GPU; on the CPU, this process's RSS plus the system's available memory."""
    if device.type == "cuda":
        _, total = torch.cuda.mem_get_info(device)
        return int(total)
    from batchlab.study.memory import current_rss

    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return current_rss() + int(line.split()[1]) * 1024
    raise ConfigError("--memory: cannot read the available memory on this system; give a limit such as --memory 4GB")


def find_max_batch_for_config(
    config: Config,
    *,
    memory: int | None = None,
    effective_batch: int | None = None,
    safety: float = 0.1,
    verify_steps: int = 2,
    console: Console | None = None,
    probe: Callable[[int], int] | None = None,
) -> MaxBatchResult:
    """Find the largest micro-batch for ``config`` within a memory limit, propose an accumulation for the
    desired effective batch, and verify it with real steps.

    Args:
        config: the training config (model, optimizer, data).
        memory: the limit in bytes; default: the GPU's total memory, or on the CPU this process's RSS plus
            the system's available memory.
        effective_batch: the desired samples per optimizer step; default the config's
            ``batch_size x accumulate``.
        safety: fraction of the limit to keep free (0.1 keeps 10%).
        verify_steps: optimizer steps of the proposal to run and measure (0 skips verification).
        console: where progress lines go.
        probe: replaces the real step probe (tests pass a fake one).
    """
    from batchlab.data.pipeline import prepare_data
    from batchlab.experiment.components import resolve_device

    if not 0.0 <= safety < 1.0:
        raise ConfigError(f"--safety: expected a fraction in [0, 1), got {safety}")
    device = resolve_device(config.train.device)
    data = prepare_data(config.data)
    train_samples = len(data.train)
    limit = memory if memory is not None else default_limit(device)
    budget = int(limit * (1.0 - safety))
    wanted = effective_batch
    if wanted is None:
        from batchlab.config import samples_of

        wanted = samples_of(config.train.batch_size, train_samples) * config.train.accumulate
    run_probe = probe or step_probe(config, data, device)
    smallest = 1 if probe is not None else smallest_micro_batch(config, data)
    if console is not None:
        console.print(
            f"Searching micro-batches {smallest}..{train_samples} on {device}: limit {limit / 2**20:,.0f} MiB, "
            f"budget {budget / 2**20:,.0f} MiB after a {safety:.0%} margin"
        )
    best, probes = find_max_batch(run_probe, budget_bytes=budget, largest=train_samples, smallest=smallest)
    result = MaxBatchResult(limit, budget, best, probes, str(device), wanted, train_samples=train_samples)
    result.limited_by_data = best >= train_samples
    if best < 1:
        result.notes.append("not even one sample per micro-batch fits in the budget")
        return result
    result.plan = propose_accumulation(best, wanted)
    if verify_steps > 0:
        verify = probe or step_probe(config, data, device, accumulate=result.plan.accumulate, steps=verify_steps)
        try:
            peak = verify(result.plan.micro_batch)
        except (MemoryError, torch.OutOfMemoryError) as exc:
            result.verified_fits = False
            result.notes.append(f"verification ran out of memory: {str(exc).splitlines()[0][:200]}")
        else:
            result.verified = peak
            result.verified_fits = peak <= budget
    return result


def write_max_batch(study_dir: str | Path, config: Config, result: MaxBatchResult) -> Path:
    """Keep ``result`` as ``STUDY_DIR/max_batch.json`` (replacing an earlier one) and return its path.

    A directory without a study becomes a ``max-batch`` study of ``config``, so ``batchlab report`` reads it.

    Raises:
        ConfigError: the directory cannot be created or is a file.
    """
    from batchlab.study.directory import StudyDirectory

    directory = StudyDirectory(study_dir)
    record = {
        "kind": "max-batch",
        "version": 1,
        "name": config.name,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "train_samples": result.train_samples,
        "config": config.model_dump(mode="json"),
    }
    with directory.lock():
        if not directory.exists():
            directory.open(record)
        directory.write_json(MAX_BATCH_FILE, {**record, "result": result.to_dict()})
        return directory.path / MAX_BATCH_FILE


def read_max_batch(study_dir: str | Path) -> dict[str, Any] | None:
    """The ``max_batch.json`` of a study directory, or ``None``."""
    try:
        value = json.loads((Path(study_dir) / MAX_BATCH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("result"), dict) else None
