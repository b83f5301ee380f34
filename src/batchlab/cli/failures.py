"""One line for an exception that is not a :class:`~batchlab.errors.BatchlabError`.

The disk and the operating system can fail a command in ways no config check foresees: a full or
read-only disk, a path that is too long, a folder where a file was expected. Those are the user's to
fix, so they get one line naming the file and exit code 2. Anything else is a bug in batchlab: one line
naming the exception, exit code 1, and ``--debug`` (or ``BATCHLAB_DEBUG=1``) shows the traceback.
"""

from __future__ import annotations

import errno
import os
import re

__all__ = ["describe_unexpected"]

# Errors of the file system and the machine that the user fixes (space, permissions, paths, limits).
_USER_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENAMETOOLONG,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.ENOTEMPTY,
    errno.EMFILE,
    errno.ENFILE,
    errno.EFBIG,
    errno.EIO,
    errno.ELOOP,
    errno.EXDEV,
    errno.EINVAL,
}

_HINTS = {
    errno.ENOSPC: "; free some space (a run interrupted this way continues with `batchlab train --resume RUN_DIR`)",
    errno.EDQUOT: "; the disk quota is exhausted",
    errno.EROFS: "; choose a folder on a writable disk",
    errno.ENAMETOOLONG: "; choose a shorter path",
}


def describe_unexpected(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line to print for ``exc``.

    For example ``OSError(28, "No space left on device", "runs/a/model.safetensors")`` gives exit code 2
    and ``batchlab: error: 'runs/a/model.safetensors': No space left on device; free some space ...``.
    """
    exc = _as_os_error(exc)
    if isinstance(exc, OSError) and exc.errno in _USER_ERRNOS:
        where = f"{str(exc.filename)!r}: " if exc.filename is not None else ""
        reason = exc.strerror or str(exc)
        return 2, f"batchlab: error: {where}{reason}{_HINTS.get(exc.errno or 0, '')}"
    if isinstance(exc, MemoryError):
        return 2, f"batchlab: error: out of memory{': ' + str(exc) if str(exc) else ''}; use a smaller model or batch"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f": {text[:300]}" if text else ""
    return 1, (
        f"batchlab: internal error: {type(exc).__name__}{detail} "
        "(a bug in batchlab; run with --debug for the traceback and please report it)"
    )


def _as_os_error(exc: BaseException) -> BaseException:
    """The operating-system error inside an error of a library written in Rust or C++, when there is one.

    safetensors reports a full disk as ``SafetensorError: Error while serializing: I/O error: No space left
    on device (os error 28)`` (older versions: ``IoError(Os { code: 28, ...})``); torch.save as
    ``RuntimeError: ... file write failed``.
    """
    text = str(exc)
    found = re.search(r"Os \{ code: (\d+)|\(os error (\d+)\)", text)
    if found and type(exc).__name__ == "SafetensorError":
        code = int(found.group(1) or found.group(2))
        return OSError(code, os.strerror(code))
    if isinstance(exc, RuntimeError) and ("file write failed" in text or "unexpected pos" in text):
        return OSError(errno.EIO, "a file could not be written (is the disk full?)")
    return exc
