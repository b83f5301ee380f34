"""Ctrl-C / SIGTERM during fit: the first signal checkpoints and stops, a second one stops at once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
from torch import nn

from batchlab.data.batching import MiniBatches
from batchlab.train.callbacks import Callback, Checkpointing
from batchlab.train.callbacks.graceful_stop import GracefulStop
from batchlab.train.checkpoint import find_checkpoints, latest_valid_checkpoint
from batchlab.train.loop import fit
from batchlab.train.objective import make_objective
from batchlab.train.state import LoopSettings, LoopState


class _Signal(Callback):
    """Sends this process ``count`` signals during step ``at`` of the run (after its forward and backward)."""

    def __init__(self, number: int, at: int, count: int) -> None:
        self.number, self.at, self.count = number, at, count

    def on_batch_end(self, state: LoopState, logs: dict[str, object]) -> None:
        if state.step + 1 == self.at:
            for _ in range(self.count):
                signal.raise_signal(self.number)


def _fit(directory: Path, callbacks: list[Callback]) -> LoopState:
    torch.manual_seed(0)
    x, y = torch.randn(200, 3), torch.randint(0, 2, (200,))
    model = nn.Linear(3, 1)
    keeper = Checkpointing(directory, every_epochs=1)
    return fit(
        model,
        MiniBatches(x, y, 10, seed=0),
        objective=make_objective("classification", 1),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        settings=LoopSettings(epochs=5),
        callbacks=[keeper, GracefulStop(keeper), *callbacks],
    )


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_checkpoints_at_the_step_end_and_stops(tmp_path: Path, number: int) -> None:
    before = signal.getsignal(number)
    state = _fit(tmp_path, [_Signal(number, at=27, count=1)])  # batch 7 of epoch 2
    assert state.interrupted == signal.Signals(number).name
    assert state.step == 27 and state.stop_reason.startswith("interrupted by")
    assert [p.name for p in find_checkpoints(tmp_path)][-1] == "step-000000027"
    assert signal.getsignal(number) is before  # handlers restored


def test_a_second_signal_stops_at_once_and_leaves_the_last_checkpoint_valid(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path, [_Signal(signal.SIGINT, at=27, count=2)])
    assert signal.getsignal(signal.SIGINT) is before
    # No checkpoint of step 27: the epoch-1 checkpoint is the newest, and it verifies.
    assert [p.name for p in find_checkpoints(tmp_path)] == ["step-000000020"]
    checkpoint, problems = latest_valid_checkpoint(tmp_path)
    assert checkpoint is not None and not problems


def test_an_interrupt_is_not_saved_as_a_stop_but_a_stop_at_the_same_step_is() -> None:
    from batchlab.train.state import LoopState

    alone = LoopState(step=5)
    alone.interrupt("SIGTERM")
    assert alone.stop and alone.stop_reason is not None and "SIGTERM" in alone.stop_reason
    assert alone.state_dict()["stop"] is False and alone.state_dict()["stop_reason"] is None
    both = LoopState(step=5)
    both.interrupt("SIGINT")
    both.request_stop("early stopping")
    assert both.state_dict()["stop"] is True and both.state_dict()["stop_reason"] == "early stopping"
