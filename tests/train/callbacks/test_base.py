"""The callback list: states saved and restored per callback, keyed by class name."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from batchlab.train.callbacks import Callback, NaNGuard, TrainingContext
from batchlab.train.state import LoopState


def test_callback_state_is_keyed_by_class_name() -> None:
    class Counter(Callback):
        def __init__(self) -> None:
            self.n = 0

        def on_step_end(self, state: LoopState) -> None:
            self.n += 1

        def state_dict(self) -> dict[str, Any]:
            return {"n": self.n}

        def load_state_dict(self, state: dict[str, Any]) -> None:
            self.n = state["n"]

    from batchlab.train.callbacks import CallbackList

    model = nn.Linear(1, 1)
    context = TrainingContext(model, torch.optim.SGD(model.parameters(), lr=0.1))
    first = CallbackList([Counter(), Counter()], context)
    first.callbacks[0].n, first.callbacks[1].n = 3, 5  # type: ignore[attr-defined]
    second = CallbackList([NaNGuard(), Counter(), Counter()], context)
    second.load_state_dict(first.state_dict())
    assert [c.n for c in second.callbacks[1:]] == [3, 5]  # type: ignore[attr-defined]
