"""The typer app, its global options, and the rule that turns user errors into one line and exit code 2."""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from batchlab.cli.failures import describe_unexpected
from batchlab.errors import BatchlabError, InterruptedRun
from batchlab.report.console import OutputConsole

__all__ = ["app", "console", "err_console", "ignore_further_interrupts", "set_debug", "usage_error_line", "user_errors"]

app = typer.Typer(
    name="batchlab",
    help="Mini-batch training of neural networks on PyTorch, with the batch size as an object of study.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Tables keep their natural width when the output is a pipe, a file or a CI log (see OutputConsole).
console = OutputConsole()
err_console = OutputConsole(stderr=True)
_DEBUG = {"on": bool(os.environ.get("BATCHLAB_DEBUG"))}


def set_debug(on: bool) -> None:
    """Show tracebacks (``--debug`` or ``BATCHLAB_DEBUG=1``) instead of one line per error."""
    _DEBUG["on"] = on


F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Turn a :class:`BatchlabError` into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InterruptedRun as exc:
            ignore_further_interrupts()
            err_console.print(f"batchlab: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except BatchlabError as exc:
            if _DEBUG["on"]:
                raise
            err_console.print(f"batchlab: error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            ignore_further_interrupts()
            err_console.print("batchlab: interrupted", markup=False)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own usage errors and exits
            raise
        except Exception as exc:
            if _DEBUG["on"]:
                raise
            code, line = describe_unexpected(exc)
            err_console.print(line, markup=False, soft_wrap=True)
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def usage_error_line(error: typer.TyperException) -> str:
    """One line for a mistake on the command line itself (an unknown command or option, a bad value).

    Example: ``batchlab: error: study: No such command 'sweep'. Commands: batch-size, noise-scale, ...``
    """
    message = error.format_message().strip()
    context = getattr(error, "ctx", None)  # usage errors know the command they were parsing
    if context is None:
        return f"batchlab: error: {message}"
    where = context.command_path.partition(" ")[2]  # the subcommand, without the program's name
    command = context.command
    if hasattr(command, "list_commands") and "no such command" in message.lower():
        names = [name for name in command.list_commands(context) if not command.get_command(context, name).hidden]
        hint = f" Commands: {', '.join(names)}."
    else:
        hint = f" (see '{context.command_path} --help')"
    return f"batchlab: error: {where + ': ' if where else ''}{message}{hint}"


def ignore_further_interrupts() -> None:
    """After an interrupt has been handled the process is ending: a second Ctrl-C (impatience) must not
    raise ``KeyboardInterrupt`` inside the interpreter's exit handlers, which print a traceback."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _print_version(value: bool) -> None:
    if value:
        import torch

        from batchlab.version import VERSION as __version__

        console.print(f"batchlab {__version__} (torch {torch.__version__})")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log diagnostics to stderr.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    _DEBUG["on"] = _DEBUG["on"] or debug
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="batchlab: %(levelname)s: %(message)s",
        force=True,  # bind to the current stderr (matters when the app is invoked several times in one process)
    )
