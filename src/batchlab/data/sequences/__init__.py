"""Variable-length samples (text, audio): flat storage, padded batches, length bucketing, LM windows."""

from batchlab.data.sequences.ragged import Ragged

__all__ = ["Ragged"]
