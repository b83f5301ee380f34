"""Learning-rate scaling rules: how the rate follows the batch size.

When the effective batch grows from ``B0`` (the size the rate was tuned for) to ``B``, the rate becomes

- ``none``:   ``lr``
- ``linear``: ``lr * B / B0``        (Goyal et al. 2017, "Accurate, large minibatch SGD")
- ``sqrt``:   ``lr * sqrt(B / B0)``  (Krizhevsky 2014; Hoffer et al. 2017)

Linear scaling is meant to be used with a warmup (``train.schedule.warmup_steps``).

>>> scaled_lr(0.1, batch_size=512, base_batch_size=128, rule="linear")
0.4
>>> scaled_lr(0.1, batch_size=512, base_batch_size=128, rule="sqrt")
0.2
"""

from __future__ import annotations

import math

__all__ = ["LR_SCALING_RULES", "scaled_lr"]

LR_SCALING_RULES = ("none", "linear", "sqrt")


def scaled_lr(lr: float, *, batch_size: int, base_batch_size: int, rule: str) -> float:
    """The learning rate for ``batch_size`` under ``rule``, given ``lr`` was set for ``base_batch_size``.

    Args:
        lr: the configured rate, tuned for ``base_batch_size`` samples per step.
        batch_size: the effective batch (samples per optimizer step) of this run.
        base_batch_size: the effective batch ``lr`` was tuned for.
        rule: ``none``, ``linear`` or ``sqrt``.
    """
    if batch_size < 1 or base_batch_size < 1:
        raise ValueError(f"batch sizes must be positive, got {batch_size} and {base_batch_size}")
    ratio = batch_size / base_batch_size
    if rule == "none":
        return lr
    if rule == "linear":
        return lr * ratio
    if rule == "sqrt":
        return lr * math.sqrt(ratio)
    raise ValueError(f"unknown lr scaling rule {rule!r}; expected one of {', '.join(LR_SCALING_RULES)}")
