"""Training budgets in epochs, steps, samples or tokens (``20epochs``, ``5000steps``, ``1e6samples``,
``2e6tokens``).

A budget says how long each cell of a study trains. The units compare batch sizes differently:

- ``epochs``: every batch size sees the same samples (small batches take more steps);
- ``steps``: every batch size takes the same optimizer steps (large batches see more samples);
- ``samples``: like epochs, but need not be a whole number of passes;
- ``tokens`` (text): valid, unpadded tokens, as counted in the ``tokens`` column of ``metrics.csv``;
  the natural unit of a study whose batch sizes are token budgets.

The same syntax sets the warmup (``--warmup 200steps``, ``--warmup 1epochs``); a bare number means steps
for a warmup and epochs for a budget.

>>> parse_budget("20epochs")
Budget(amount=20.0, unit='epochs')
>>> parse_budget("1e6samples").steps(effective_batch=100, steps_per_epoch=13)
10000
>>> parse_budget("2epochs").steps(effective_batch=100, steps_per_epoch=13)
26
>>> parse_budget("1e5tokens").steps(effective_batch=100, steps_per_epoch=13, tokens_per_step=3000.0)
34
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from batchlab.errors import ConfigError

__all__ = ["Budget", "BudgetUnit", "parse_budget"]

BudgetUnit = Literal["epochs", "steps", "samples", "tokens"]

_UNITS: dict[str, BudgetUnit] = {
    "epoch": "epochs",
    "epochs": "epochs",
    "ep": "epochs",
    "step": "steps",
    "steps": "steps",
    "samples": "samples",
    "sample": "samples",
    "tokens": "tokens",
    "token": "tokens",
}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$")


@dataclass(frozen=True)
class Budget:
    """An amount of training.

    Attributes:
        amount: how many units (positive; epochs, samples and tokens may be fractional).
        unit: ``epochs``, ``steps``, ``samples`` or ``tokens``.
    """

    amount: float
    unit: BudgetUnit

    def __str__(self) -> str:
        return f"{self.amount:g}{self.unit}"

    def steps(self, *, effective_batch: float, steps_per_epoch: int, tokens_per_step: float | None = None) -> int:
        """The budget in optimizer steps for a run with this effective batch (samples per step).

        Args:
            effective_batch: samples per optimizer step (batch size x accumulation; the mean over an
                epoch for a token budget, whose batches hold varying numbers of samples).
            steps_per_epoch: optimizer steps per pass over the training split.
            tokens_per_step: valid tokens per optimizer step, the mean over an epoch (text only).

        Returns:
            At least 1 step.

        Raises:
            ValueError: a budget in tokens without ``tokens_per_step``.
        """
        if self.unit == "steps":
            value = self.amount
        elif self.unit == "epochs":
            value = self.amount * steps_per_epoch
        elif self.unit == "tokens":
            if not tokens_per_step:
                raise ValueError(f"a budget of {self} needs the tokens per step (text data)")
            value = self.amount / tokens_per_step
        else:
            value = self.amount / effective_batch
        return max(1, math.ceil(value - 1e-9))


def parse_budget(text: str, *, option: str = "--budget", default_unit: BudgetUnit = "epochs") -> Budget:
    """Parse ``20epochs``, ``5000steps``, ``1e6samples``, ``2e6tokens`` (or a bare number in ``default_unit``).

    Raises:
        ConfigError: one line naming the option and the value.
    """
    match = _PATTERN.match(text.lower())
    unit_text = match.group(2) if match else ""
    if not match or (unit_text and unit_text not in _UNITS):
        raise ConfigError(
            f"{option}: expected a number followed by epochs, steps, samples or tokens "
            f"(e.g. 20epochs, 5000steps, 1e6samples, 2e6tokens), got {text!r}"
        )
    amount = float(match.group(1))
    unit = _UNITS[unit_text] if unit_text else default_unit
    if amount <= 0 and option == "--budget":
        raise ConfigError(f"{option}: the budget must be positive, got {text!r}")
    if unit == "steps" and not amount.is_integer():
        raise ConfigError(f"{option}: steps must be a whole number, got {text!r}")
    return Budget(amount, unit)
