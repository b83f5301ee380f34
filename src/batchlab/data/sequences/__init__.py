"""Variable-length samples (text, audio): flat storage, padded batches, length bucketing, LM windows."""

from batchlab.data.sequences.batches import SequenceBatches, plan_batches
from batchlab.data.sequences.ragged import Ragged
from batchlab.data.sequences.windows import WindowBatches, window_count

__all__ = ["Ragged", "SequenceBatches", "WindowBatches", "plan_batches", "window_count"]
