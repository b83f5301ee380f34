"""The ``batchlab`` command line: parse flags and YAML into a Config, call the API, print and plot.

A user's mistake prints one line, ``batchlab: error: <what is wrong>``, and exits with code 2
(``--debug`` shows the traceback). Ctrl-C exits with code 130. Each module below registers its commands
on the one typer ``app``.
"""

from __future__ import annotations

import sys

from batchlab.cli import commands as _commands  # noqa: F401  (registers train, evaluate, predict, report, datasets)
from batchlab.cli import export as _export  # noqa: F401  (registers export)
from batchlab.cli import lr_find as _lr_find  # noqa: F401  (registers lr-find)
from batchlab.cli import study as _study  # noqa: F401  (registers study batch-size, noise-scale, max-batch)
from batchlab.cli import text as _text  # noqa: F401  (registers generate)
from batchlab.cli import tune as _tune  # noqa: F401
from batchlab.cli.app import app, ignore_further_interrupts

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``batchlab`` script."""
    try:
        app()
    except BrokenPipeError:  # e.g. `batchlab datasets | head`
        sys.exit(0)
    except KeyboardInterrupt:  # outside a command (while parsing the flags, say)
        ignore_further_interrupts()
        print("batchlab: interrupted", file=sys.stderr)
        sys.exit(130)
