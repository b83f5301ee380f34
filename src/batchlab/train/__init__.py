"""Training: the loop (:func:`fit`), its state and settings, callbacks, objectives and optimizers."""

from batchlab.train.loop import fit
from batchlab.train.objective import Objective, make_objective
from batchlab.train.state import LoopSettings, LoopState

__all__ = ["LoopSettings", "LoopState", "Objective", "fit", "make_objective"]
