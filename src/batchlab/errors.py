"""Errors meant for people.

Every error a user can cause by a config, a flag or a file is a :class:`BatchlabError`. Its message is
one line that names the thing that is wrong (a config field path such as ``train.batch_size`` or a file),
the value received and what is allowed. The command line prints it as ``batchlab: error: <message>``
and exits with code 2, without a traceback. Anything else that escapes is a bug in batchlab.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BatchlabError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DivergenceError",
    "InterruptedRun",
    "did_you_mean",
]


class BatchlabError(Exception):
    """Base class of the errors a user can cause and fix."""


class ConfigError(BatchlabError):
    """A config field, a ``--set`` override or a command-line option is invalid."""


class DataError(BatchlabError):
    """A data file or dataset cannot be used as the config asks."""


class CheckpointError(BatchlabError):
    """A run directory or checkpoint is missing, corrupt or does not match the config."""


class DivergenceError(BatchlabError):
    """Training produced a NaN or infinite loss."""


class InterruptedRun(BatchlabError):
    """Training was stopped by SIGINT or SIGTERM after writing a checkpoint; the message says how to resume."""


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """A suffix for an error message that suggests the nearest valid name, or lists them all.

    >>> did_you_mean("adma", ["sgd", "adam", "adamw"])
    'did you mean "adam"?'
    >>> did_you_mean("zzz", ["sgd", "adam"])
    'expected one of: sgd, adam'
    """
    choices = [str(v) for v in valid]
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    if close:
        return f'did you mean "{close[0]}"?'
    return "expected one of: " + ", ".join(choices)
