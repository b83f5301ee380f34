"""Which process runs a trial, and whether that process is still alive.

Every trial records its worker (host, boot id, pid and the process's start time) when it starts. A
worker that later finds a RUNNING trial whose process is gone from this machine -- killed with
``kill -9``, crashed, or lost in a reboot -- knows the trial will never finish (see
:mod:`batchlab.tune.recovery`). The start time guards against a recycled pid.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Owner"]


@dataclass(frozen=True)
class Owner:
    """A worker process.

    Attributes:
        host: the machine's host name.
        boot: the kernel's boot id (changes at every reboot); empty where unknown.
        pid: the process id.
        started: the process's start time in clock ticks since boot (``/proc/PID/stat``); empty where unknown.
    """

    host: str
    boot: str
    pid: int
    started: str

    @classmethod
    def current(cls) -> Owner:
        """This process."""
        pid = os.getpid()
        return cls(socket.gethostname(), _boot_id(), pid, _start_time(pid))

    @classmethod
    def from_attr(cls, value: Any) -> Owner | None:
        """Read what :meth:`to_attr` stored; ``None`` for anything else."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(str(value["host"]), str(value["boot"]), int(value["pid"]), str(value["started"]))
        except (KeyError, TypeError, ValueError):
            return None

    def to_attr(self) -> dict[str, Any]:
        """A JSON-serializable form for a trial's user attributes."""
        return {"host": self.host, "boot": self.boot, "pid": self.pid, "started": self.started}

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"

    def is_on_this_machine(self) -> bool:
        """Whether the process ran on this host (and so whether :meth:`is_alive` can tell)."""
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """Whether the process still runs (only meaningful on its own machine).

        A different boot id means the machine rebooted since; a different start time means the pid was
        reused by another process; a zombie has finished.
        """
        boot = _boot_id()
        if self.boot and boot and self.boot != boot:
            return False
        stat = _stat_fields(self.pid)
        if stat is None:
            if Path("/proc/self/stat").exists():
                return False
            return _signal_zero(self.pid)
        state, started = stat[0], stat[19]
        if state in ("Z", "X"):
            return False
        return not self.started or started == self.started


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    stat = _stat_fields(pid)
    return stat[19] if stat is not None else ""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/PID/stat`` (after the command name, which may hold spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    return fields if len(fields) > 19 else None


def _signal_zero(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True
