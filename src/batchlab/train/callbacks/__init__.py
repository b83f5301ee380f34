"""Callbacks: the loop's extension points (progress, logging, early stopping, checkpoints, NaN guard)."""

from batchlab.train.callbacks.base import Callback, CallbackList, TrainingContext
from batchlab.train.callbacks.checkpointing import Checkpointing
from batchlab.train.callbacks.csv_logger import CSVLogger
from batchlab.train.callbacks.early_stopping import EarlyStopping
from batchlab.train.callbacks.nan_guard import NaNGuard
from batchlab.train.callbacks.progress import ProgressBar
from batchlab.train.callbacks.tracker import MetricTracker

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "Checkpointing",
    "EarlyStopping",
    "MetricTracker",
    "NaNGuard",
    "ProgressBar",
    "TrainingContext",
]
