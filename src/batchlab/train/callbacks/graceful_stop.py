"""Ctrl-C (SIGINT) or SIGTERM: finish the current step, write a checkpoint, stop.

The first signal only sets a flag; at the end of the current optimizer step the callback asks the loop
to stop, and once the step is closed (its metrics row written) it writes a checkpoint through the run's
:class:`Checkpointing`. A second signal raises
``KeyboardInterrupt`` at once (the previous checkpoint stays valid: checkpoints are written atomically).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from batchlab.train.callbacks.base import Callback
from batchlab.train.distributed import any_rank

if TYPE_CHECKING:
    from batchlab.train.callbacks.checkpointing import Checkpointing
    from batchlab.train.state import LoopState

__all__ = ["GracefulStop"]

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop(Callback):
    """Turns the first SIGINT/SIGTERM into a checkpoint and a clean stop.

    Args:
        checkpointing: writes the checkpoint (its periodic schedule does not matter).

    After training, ``state.interrupted`` names the signal when one arrived. Handlers are
    installed only in the main thread and restored when training ends.
    """

    def __init__(self, checkpointing: Checkpointing) -> None:
        self.checkpointing = checkpointing
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def on_train_begin(self, state: LoopState) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for number in _SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.received is not None:
            self._restore()
            raise KeyboardInterrupt
        self.received = signal.Signals(number).name
        log.warning("%s received: finishing the current step and writing a checkpoint", self.received)

    def on_step_end(self, state: LoopState) -> None:
        if state.stop or not any_rank(self.received is not None):  # all ranks stop at the same step
            return
        self.received = self.received or "a signal on another worker"
        state.interrupt(self.received)

    def on_step_closed(self, state: LoopState) -> None:
        # The checkpoint comes once the step is complete (its metrics row, an early stop at that step).
        if state.interrupted:
            self.checkpointing.context = self.context
            self.checkpointing.save(state)

    def on_train_end(self, state: LoopState) -> None:
        self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
