"""Optimizers and learning-rate schedules built from the ``train.optimizer`` and ``train.schedule`` config.

A schedule is a pure function, :func:`lr_multiplier`, from the optimizer step to a multiple of the base
rate; :func:`build_scheduler` wraps it in a :class:`~torch.optim.lr_scheduler.LambdaLR` that the loop
steps once per optimizer step (not per micro-batch, not per epoch).

Example:
    >>> import torch
    >>> from batchlab.config import OptimizerConfig, ScheduleConfig
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = build_optimizer(model.parameters(), OptimizerConfig(name="adam", lr=1e-3))
    >>> schedule = ScheduleConfig(name="cosine", warmup_steps=10)
    >>> sched = build_scheduler(opt, schedule, total_steps=100, steps_per_epoch=10)
    >>> round(opt.param_groups[0]["lr"] / 1e-3, 4)  # warmup: (0 + 1) / (10 + 1)
    0.0909
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from batchlab.config import OptimizerConfig, ScheduleConfig

__all__ = ["FUSED_OPTIMIZERS", "build_optimizer", "build_scheduler", "decay_groups", "lr_multiplier"]

FUSED_OPTIMIZERS = frozenset({"sgd", "adam", "adamw"})
"""Optimizers that have a fused (single-kernel) implementation in torch; RMSprop has none."""

_Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, torch.Tensor]]


def build_optimizer(params: _Params, cfg: OptimizerConfig, *, fused: bool | None = None) -> torch.optim.Optimizer:
    """Build the optimizer that ``cfg`` names, over ``params``.

    Every hyperparameter comes from ``cfg``: ``sgd`` uses ``momentum``, ``nesterov`` and ``weight_decay``
    (an L2 term added to the gradient); ``adam`` uses ``betas``, ``eps`` and ``weight_decay`` (L2 added
    to the gradient); ``adamw`` the same with decoupled weight decay; ``rmsprop`` uses ``momentum``,
    ``eps`` and ``weight_decay`` (smoothing constant ``alpha`` stays torch's 0.99).

    Args:
        params: the tensors to optimize (``model.parameters()``) or a list of parameter-group dicts.
        cfg: the ``train.optimizer`` section.
        fused: implementation. ``None`` (default) picks the fused single-kernel implementation when torch
            has one for this optimizer, these parameters' device and dtype (SGD, Adam and AdamW on CPU
            and CUDA; several times faster than the per-tensor loop), and otherwise the multi-tensor
            ``foreach`` implementation. ``True`` demands the fused one; ``False`` uses ``foreach``.
            All three compute the same update up to floating-point rounding.

    Returns:
        A ``torch.optim.Optimizer`` whose ``param_groups[i]["lr"]`` is ``cfg.lr``.

    Raises:
        ValueError: ``fused=True`` for RMSprop, or for parameters torch has no fused kernel for.
    """
    items: list[Any] = list(params)  # may be a generator, and the auto mode reads it twice
    if cfg.decay == "matrices" and cfg.weight_decay > 0 and not any(isinstance(i, dict) for i in items):
        items = decay_groups(_tensors(items), cfg.weight_decay)
    if fused is True and cfg.name not in FUSED_OPTIMIZERS:
        raise ValueError(f"optimizer {cfg.name!r} has no fused implementation; fused ones: {sorted(FUSED_OPTIMIZERS)}")
    if fused is not False and cfg.name in FUSED_OPTIMIZERS:
        problem = _fused_problem(items, cfg)
        if problem is None:
            return _make(items, cfg, fused=True)
        if fused is True:
            raise ValueError(f"fused {cfg.name} is not supported for these parameters: {problem}")
    return _make(items, cfg, fused=False)


def decay_groups(params: list[torch.Tensor], weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups: matrices (2-D and up: weights, embeddings) decayed, the rest (biases, norms) not.

    >>> layer = torch.nn.Linear(3, 2)
    >>> [(len(g["params"]), g["weight_decay"]) for g in decay_groups(list(layer.parameters()), 0.1)]
    [(1, 0.1), (1, 0.0)]
    """
    matrices = [p for p in params if p.dim() >= 2]
    others = [p for p in params if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": weight_decay}]
    return groups + ([{"params": others, "weight_decay": 0.0}] if others else [])


def _fused_problem(params: list[Any], cfg: OptimizerConfig) -> str | None:
    """Why the fused kernel cannot run on these parameters, or ``None`` if it can.

    torch only rejects an unsupported device or dtype at the first ``step()``, so try one step on a
    one-element stand-in for each (device, dtype) the parameters use.
    """
    for device, dtype in {(t.device, t.dtype) for t in _tensors(params)}:
        probe = torch.nn.Parameter(torch.zeros(1, device=device, dtype=dtype))
        probe.grad = torch.zeros_like(probe)
        try:
            _make([probe], cfg, fused=True).step()
        except (RuntimeError, ValueError, TypeError, NotImplementedError) as exc:
            return f"{dtype} on {device}: {exc}"
    return None


def _tensors(params: list[Any]) -> list[torch.Tensor]:
    """The tensors in a list of tensors, ``(name, tensor)`` pairs or parameter-group dicts."""
    found: list[torch.Tensor] = []
    for item in params:
        if isinstance(item, dict):
            group = item["params"]
            found += _tensors([group] if isinstance(group, torch.Tensor) else list(group))
        elif isinstance(item, tuple):
            found.append(item[1])
        else:
            found.append(item)
    return found


def _make(params: list[Any], cfg: OptimizerConfig, *, fused: bool) -> torch.optim.Optimizer:
    impl: dict[str, Any] = {"fused": True} if fused else {"foreach": True}
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
            **impl,
        )
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **impl)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **impl)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, momentum=cfg.momentum, eps=cfg.eps, weight_decay=cfg.weight_decay, **impl
        )
    raise ValueError(f"unknown optimizer {cfg.name!r}")  # unreachable: the config validates the name


def lr_multiplier(step: int, *, total_steps: int, steps_per_epoch: int, cfg: ScheduleConfig) -> float:
    """The learning rate at optimizer step ``step`` as a multiple of the base rate ``train.optimizer.lr``.

    ``step`` is 0-based: ``lr_multiplier(k)`` is the rate of update number ``k + 1``. With
    ``W = cfg.warmup_steps``, ``T = total_steps`` and ``S = steps_per_epoch``:

    1. warmup (all schedules but onecycle): the schedule below is multiplied by the linear ramp
       ``min(1, (step + 1) / (W + 1))``, so the first update uses ``1 / (W + 1)`` of the rate (never 0)
       and update ``W + 1`` is the first at the full schedule value.
    2. ``constant``: 1.
    3. ``step``: ``gamma ** floor(step / (step_epochs * S))``; decays land on epoch boundaries counted
       from the start of training (epochs ``step_epochs``, ``2 * step_epochs``, ...), warmup included.
    4. ``cosine``: ``r + (1 - r) * (1 + cos(pi * t)) / 2`` with ``r = min_lr_ratio`` and
       ``t = clamp((step - W) / (T - W), 0, 1)``: flat during warmup, then decays over the remaining
       steps and reaches ``r`` after the last update (like ``CosineAnnealingLR(T_max=T - W)``).
    5. ``onecycle``: torch's ``OneCycleLR`` (cosine annealing, two phases): a cosine rise from
       ``1 / div_factor`` at step 0 to 1 at step ``pct_start * T - 1``, then a cosine fall to
       ``1 / (div_factor * final_div_factor)`` at step ``T - 1``. ``warmup_steps`` is ignored: the
       rising phase is the warmup. Momentum is not cycled.

    Steps past ``total_steps`` keep the final value.

    Args:
        step: optimizer steps taken so far (0-based index of the coming update).
        total_steps: optimizer steps in the whole run (used by cosine and onecycle).
        steps_per_epoch: optimizer steps per epoch (used by step).
        cfg: the ``train.schedule`` section.

    Returns:
        The multiplier, a float in ``(0, 1]`` (or 0 when ``min_lr_ratio`` is 0 and training runs past
        ``total_steps``).

    Raises:
        ValueError: a negative ``step``, or ``total_steps`` / ``steps_per_epoch`` below 1.

    >>> from batchlab.config import ScheduleConfig
    >>> lr_multiplier(5, total_steps=100, steps_per_epoch=10, cfg=ScheduleConfig(name="constant"))
    1.0
    >>> decay = ScheduleConfig(name="step", step_epochs=2, gamma=0.5)
    >>> lr_multiplier(40, total_steps=100, steps_per_epoch=10, cfg=decay)
    0.25
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if total_steps < 1 or steps_per_epoch < 1:
        raise ValueError(f"total_steps and steps_per_epoch must be >= 1, got {total_steps} and {steps_per_epoch}")
    if cfg.name == "onecycle":
        return _onecycle(step, total_steps, cfg)
    warmup = cfg.warmup_steps
    ramp = min(1.0, (step + 1) / (warmup + 1))
    if cfg.name == "constant":
        return ramp
    if cfg.name == "step":
        return ramp * cfg.gamma ** (step // (cfg.step_epochs * steps_per_epoch))
    if cfg.name == "cosine":
        t = min(1.0, max(0.0, (step - warmup) / max(1, total_steps - warmup)))
        r = cfg.min_lr_ratio
        return ramp * (r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * t)))
    raise ValueError(f"unknown schedule {cfg.name!r}")  # unreachable: the config validates the name


def _onecycle(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    # Same phase boundaries as torch.optim.lr_scheduler.OneCycleLR(three_phase=False).
    start = 1.0 / cfg.div_factor
    final = start / cfg.final_div_factor
    peak_step = cfg.pct_start * total_steps - 1.0
    last_step = total_steps - 1.0
    if step <= peak_step:
        return _cosine_between(start, 1.0, step / peak_step if peak_step > 0 else 1.0)
    span = last_step - peak_step
    return _cosine_between(1.0, final, min(1.0, (step - peak_step) / span) if span > 0 else 1.0)


def _cosine_between(begin: float, end: float, pct: float) -> float:
    """Cosine interpolation from ``begin`` (``pct = 0``) to ``end`` (``pct = 1``)."""
    return end + (begin - end) * 0.5 * (1.0 + math.cos(math.pi * pct))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, *, total_steps: int, steps_per_epoch: int
) -> LambdaLR:
    """A ``LambdaLR`` that sets each group's rate to its base rate times :func:`lr_multiplier`.

    Call ``scheduler.step()`` once after each ``optimizer.step()``. Right after construction the
    optimizer already holds the rate of the first update (``lr_multiplier(0)``).

    Args:
        optimizer: from :func:`build_optimizer`; its current ``lr`` values are the base rates.
        cfg: the ``train.schedule`` section.
        total_steps: optimizer steps in the whole run (at least 1).
        steps_per_epoch: optimizer steps per epoch (at least 1).

    Returns:
        The scheduler. Its ``state_dict`` holds only the step count and base rates, so it round-trips
        through a weights-only checkpoint; the schedule itself is rebuilt from the config.

    Warns:
        UserWarning: ``onecycle`` with ``warmup_steps > 0`` (the warmup steps are ignored).
    """
    if total_steps < 1 or steps_per_epoch < 1:
        raise ValueError(f"total_steps and steps_per_epoch must be >= 1, got {total_steps} and {steps_per_epoch}")
    if cfg.name == "onecycle" and cfg.warmup_steps > 0:
        warnings.warn(
            f"train.schedule.warmup_steps={cfg.warmup_steps} is ignored by the onecycle schedule, which "
            "warms up over its first pct_start of the steps; set warmup_steps to 0 to silence this warning",
            UserWarning,
            stacklevel=2,
        )

    # A plain function (not an object) so LambdaLR.state_dict leaves it out.
    def multiplier(step: int) -> float:
        return lr_multiplier(step, total_steps=total_steps, steps_per_epoch=steps_per_epoch, cfg=cfg)

    scheduler = _Schedule(optimizer, multiplier)
    scheduler.constant = cfg.name == "constant" and cfg.warmup_steps == 0
    return scheduler


class _Schedule(LambdaLR):
    """``LambdaLR`` that only counts the step when the rate cannot change (a constant schedule).

    Recomputing an unchanging rate costs about 20 µs per step, as much as the fused SGD update of a
    small model; the step count (what ``state_dict`` saves) advances the same way.
    """

    constant = False

    def step(self, epoch: int | None = None) -> None:
        if self.constant and epoch is None:
            self.last_epoch += 1
            self._step_count += 1
            return
        super().step(epoch)
