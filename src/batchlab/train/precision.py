"""Mixed precision for the loop: autocast of the forward pass, and a gradient scaler for float16.

``bf16`` runs the forward pass and loss under ``torch.autocast`` in bfloat16 (same exponent range as
float32: no scaling needed). ``fp16`` does the same in float16 and scales the loss before backward
(``torch.amp.GradScaler``) so small gradients do not underflow; a step whose gradients overflow is
skipped and the scale lowered. Parameters, optimizer state and the logged loss stay float32. ``fp32``
does nothing at all on the hot path.

Example:
    >>> import torch
    >>> precision = Precision("bf16", torch.device("cpu"))
    >>> with precision.autocast():
    ...     out = torch.nn.Linear(4, 2)(torch.ones(3, 4))
    >>> out.dtype
    torch.bfloat16
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch

from batchlab.train.fused_step import OptimizerStep

__all__ = ["PRECISIONS", "Precision"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""``train.precision`` names and their autocast dtypes."""

_FULL = contextlib.nullcontext()


class Precision:
    """The loop's autocast context, loss scaling and optimizer step for one precision and device.

    Args:
        name: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device: the model's device (its type picks the autocast backend).
    """

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
        self.name = name
        self.dtype = PRECISIONS[name]
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Context for the forward pass and loss (a no-op for ``fp32``)."""
        if self.dtype is None:
            return _FULL
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to backpropagate: scaled for ``fp16``, unchanged otherwise."""
        return self.scaler.scale(loss) if self.scaler is not None else loss

    def state_dict(self) -> dict[str, Any] | None:
        """The float16 gradient scaler's state (plain numbers), or ``None`` without one."""
        return dict(self.scaler.state_dict()) if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict` (a resumed float16 run keeps its loss scale)."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)

    def step(self, step: OptimizerStep, parameters: Iterable[torch.Tensor], grad_clip: float | None) -> None:
        """Clip (on unscaled gradients), apply and release the gradients of one optimizer step."""
        if self.scaler is None:
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(parameters, grad_clip, foreach=True)
            step()
            return
        if grad_clip is not None:
            self.scaler.unscale_(step.optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, grad_clip, foreach=True)
        self.scaler.step(step.optimizer)
        self.scaler.update()
        step.zero_grad()
