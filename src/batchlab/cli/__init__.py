"""The ``batchlab`` command line: parse flags and YAML into a Config, call the API, print and plot.

A user's mistake prints one line, ``batchlab: error: <what is wrong>``, and exits with code 2
(``--debug`` shows the traceback). Ctrl-C exits with code 130. Each module below registers its commands
on the one typer ``app``.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

import typer

from batchlab.cli import commands as _commands  # noqa: F401  (registers train, evaluate, predict, report, datasets)
from batchlab.cli import export as _export  # noqa: F401  (registers export)
from batchlab.cli import lr_find as _lr_find  # noqa: F401  (registers lr-find)
from batchlab.cli import study as _study  # noqa: F401  (registers study batch-size, noise-scale, max-batch)
from batchlab.cli import text as _text  # noqa: F401  (registers generate)
from batchlab.cli import tune as _tune  # noqa: F401
from batchlab.cli.app import app, ignore_further_interrupts, usage_error_line

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``batchlab`` script."""
    if _is_torchrun_worker():
        _exit_without_finalization(_run_app)
    try:
        _run_app()
    finally:
        # The interpreter's last garbage collection walks every object torch and the rest created:
        # about 0.4 s of a command's exit. Frozen objects are skipped by it (they are still freed, and
        # atexit handlers and finalizers still run).
        gc.freeze()


def _run_app() -> None:
    try:
        code = app(standalone_mode=False)  # usage errors come here, to be printed as one line
    except typer.TyperException as mistake:  # an unknown command or option, a bad or missing value
        if type(mistake).__name__ != "NoArgsIsHelpError":  # (`batchlab study` alone: its help was printed)
            print(usage_error_line(mistake), file=sys.stderr)
        sys.exit(mistake.exit_code)
    except typer.Abort:  # end of input at a prompt
        print("batchlab: aborted", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:  # e.g. `batchlab datasets | head`
        sys.exit(0)
    except KeyboardInterrupt:  # outside a command (while parsing the flags, say)
        ignore_further_interrupts()
        print("batchlab: interrupted", file=sys.stderr)
        sys.exit(130)
    if isinstance(code, int) and code:  # a command's typer.Exit(code), returned outside standalone mode
        sys.exit(code)


def _is_torchrun_worker() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "LOCAL_RANK" in os.environ


def _exit_without_finalization(command: Callable[[], None]) -> NoReturn:
    """Run ``command`` in one of torchrun's workers, then leave without interpreter finalization.

    A finished worker still holds its ``DistributedDataParallel`` model, whose reducer keeps the gloo
    process group alive after ``destroy_process_group``; tearing both down while the interpreter
    finalizes can abort the process after all its work is done ("terminate called without an active
    exception", SIGABRT), and torchrun then reports the whole run as failed. Every file a worker writes
    is complete (written atomically) before the command returns, so skipping finalization loses nothing.
    """
    code = 1
    try:
        command()
        code = 0
    except SystemExit as done:
        if isinstance(done.code, int) or done.code is None:
            code = done.code or 0
        else:
            print(done.code, file=sys.stderr)
    except BaseException:  # an unexpected error: its traceback, as the interpreter would print it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
