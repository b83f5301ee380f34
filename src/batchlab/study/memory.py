"""Peak memory of this process: resident set size (RSS) on the CPU, allocated bytes on a CUDA device.

On Linux the kernel keeps the RSS high-water mark (``VmHWM`` in ``/proc/self/status``), which catches
short peaks such as the activations of one backward pass that sampling would miss, and writing ``5`` to
``/proc/self/clear_refs`` resets it to the current RSS. So the peak of one piece of work is measured by
resetting, working and reading the mark. Where that is unavailable (other systems, restricted ``/proc``)
the fallback is ``getrusage``'s ``ru_maxrss``, the peak since the process started, and
:attr:`PeakMemory.exact` says so.

Freed memory is handed back to the system (``malloc_trim``) before a reset where glibc allows it, so a
previous, larger piece of work does not inflate the baseline.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["PeakMemory", "current_rss", "measure_peak", "parse_memory", "peak_rss", "reset_peak_rss"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field: str) -> int | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def current_rss() -> int:
    """Resident set size of this process now, in bytes (0 if unknown)."""
    value = _status_bytes("VmRSS")
    if value is not None:
        return value
    return 0


def peak_rss() -> int:
    """The RSS high-water mark in bytes: since the last :func:`reset_peak_rss`, else since process start."""
    value = _status_bytes("VmHWM")
    if value is not None:
        return value
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def _trim() -> None:
    name = ctypes.util.find_library("c")
    if not name:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


def reset_peak_rss() -> bool:
    """Return freed memory to the system and reset the high-water mark; ``False`` if it cannot be reset."""
    _trim()
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class PeakMemory:
    """Memory of one piece of work.

    Attributes:
        peak_rss: the process's highest RSS during the work, in bytes.
        start_rss: the RSS when the work started, in bytes.
        cuda_peak: the highest CUDA memory allocated by tensors, in bytes (``None`` without CUDA).
        exact: whether ``peak_rss`` is this work's own peak (``False``: the peak since process start).
    """

    peak_rss: int
    start_rss: int
    cuda_peak: int | None
    exact: bool

    @property
    def growth(self) -> int:
        """``peak_rss - start_rss``: what the work added at its peak, in bytes."""
        return max(0, self.peak_rss - self.start_rss)


class measure_peak:
    """Context manager measuring the peak memory of its body.

    Example:
        >>> with measure_peak() as probe:
        ...     _ = bytearray(50_000_000)
        >>> probe.result.growth > 40_000_000  # doctest: +SKIP
        True
    """

    def __init__(self, device: torch.device | None = None) -> None:
        self.device = device
        self.result: PeakMemory | None = None
        self._exact = False
        self._start = 0

    def __enter__(self) -> measure_peak:
        self._exact = reset_peak_rss()
        self._start = current_rss()
        if self._cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    @property
    def _cuda(self) -> bool:
        return self.device is not None and self.device.type == "cuda"

    def __exit__(self, *exc: object) -> None:
        cuda_peak = None
        if self._cuda:
            torch.cuda.synchronize(self.device)
            cuda_peak = int(torch.cuda.max_memory_allocated(self.device))
        self.result = PeakMemory(peak_rss(), self._start, cuda_peak, self._exact)


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_memory(text: str, *, option: str = "--memory") -> int:
    """Parse a memory size into bytes: ``2GB`` and ``2G`` are 2*10^9, ``1.5GiB`` is 1.5*2^30; a bare number is bytes.

    Raises:
        ConfigError: not a positive size with a known unit.
    """
    from batchlab.errors import ConfigError

    cleaned = text.strip().lower().replace(" ", "")
    number = cleaned.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = cleaned[len(number) :]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or value <= 0:
        raise ConfigError(f"{option}: expected a size such as 4GB, 2GiB, 512MiB or a number of bytes, got {text!r}")
    return int(value * _UNITS[unit])
