"""How many intra-op threads torch uses on the CPU: as many as the work of a step can use and the
machine has free, never more.

Every parallel region of a torch kernel (a matrix product, the fused optimizer update) splits its work
over the intra-op threads and waits for the slowest. When the step is small, the split saves less than
it costs; when another process occupies a core, the thread scheduled on it can wait a whole
scheduler time slice, and a step takes several times longer (measured on 2 cores with 2 other
CPU-bound processes: a batch-32 MLP step ran 20× slower with 2 threads than with 1). So:

* **work**: a step does about ``parameters × batch`` multiply-adds in its forward pass (a dense layer
  exactly that; a convolution more, since its weights are applied at every position). A thread is
  worth it for each :data:`WORK_PER_THREAD` multiply-adds (about 8 million: an MLP of 85k parameters
  gets 1 thread at batch 32 and 3 at batch 256);
* **free cores**: the CPUs this process may run on (``os.sched_getaffinity``) minus the cores other work
  keeps busy *now* (the non-idle share of ``/proc/stat`` over 50 ms while this process waits; the
  1-minute load average where that file is missing), rounded to the nearest whole core, at least 1. The
  load average alone misleads: it remembers the last minute, jobs that have ended included;
* the result is the smaller of the two, and never more than torch's own count (which a user or the
  ``OMP_NUM_THREADS`` variable may have lowered). ``train.threads`` sets the count instead.

The busy cores are read once, when the run is built; the rule does not follow load that comes or goes
during training. The count is recorded in ``run.json`` (``threads``) and a resumed run takes it
again: torch's CPU reductions round differently with another number of threads, so two runs that chose
different counts can differ in the last digits. Set ``train.threads`` for runs that must match bit for
bit across machines and loads.

Example:
    >>> intra_op_threads(parameters=85_000, batch_size=32, cores=2, load=0.0)
    1
    >>> intra_op_threads(parameters=85_000, batch_size=2048, cores=8, load=5.2)
    3
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

__all__ = [
    "WORK_PER_THREAD",
    "busy_cores",
    "free_cores",
    "intra_op_threads",
    "machine_cores",
    "one_minute_load",
    "set_intra_op_threads",
    "use_recorded_threads",
]

WORK_PER_THREAD = 1 << 23
"""Forward multiply-adds per step that justify one more intra-op thread (about 8.4 million)."""


def intra_op_threads(*, parameters: int, batch_size: int, cores: int, load: float, ceiling: int | None = None) -> int:
    """Threads for a step of ``parameters × batch_size`` multiply-adds on ``cores`` CPUs with ``load`` busy.

    Args:
        parameters: trainable parameters of the model.
        batch_size: samples per step (per process).
        cores: CPUs this process may use.
        load: other work on the machine, in busy cores (see :func:`busy_cores`).
        ceiling: at most this many (torch's current count); ``None`` for no ceiling.

    Returns:
        At least 1, at most ``free_cores(cores, load)``, ``ceiling`` and the threads the work can use.
    """
    work = max(0, parameters) * max(1, batch_size)
    useful = max(1, math.ceil(work / WORK_PER_THREAD))
    threads = min(useful, free_cores(cores, load))
    return max(1, min(threads, ceiling) if ceiling is not None else threads)


def free_cores(cores: int, load: float) -> int:
    """Cores not busy with other work: ``cores - load`` rounded to the nearest whole core, in ``[1, cores]``."""
    return max(1, min(cores, math.floor(cores - max(0.0, load) + 0.5)))


def machine_cores() -> int:
    """CPUs this process may run on (its affinity mask; all CPUs where that cannot be read)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_SAMPLE_SECONDS = 0.05


def busy_cores(seconds: float = _SAMPLE_SECONDS) -> float:
    """Cores busy with other work now: the non-idle share of all CPUs over ``seconds``, times the cores.

    Read from ``/proc/stat`` twice, ``seconds`` apart, while this process waits (so its own work is not
    counted, unlike the load average, which also remembers the last minute, this process's own start and
    jobs that have already ended). Falls back to :func:`one_minute_load` where ``/proc/stat`` is missing.
    """
    first = _cpu_times()
    if first is None:
        return one_minute_load()
    time.sleep(seconds)
    second = _cpu_times()
    if second is None:
        return one_minute_load()
    total = sum(second) - sum(first)
    idle = (second[3] + second[4]) - (first[3] + first[4])  # idle and iowait
    if total <= 0:
        return 0.0
    return max(0.0, (total - idle) / total) * (os.cpu_count() or 1)


def _cpu_times() -> list[int] | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return [int(v) for v in fields[1:9]]
    except (OSError, ValueError, IndexError):
        return None


def one_minute_load() -> float:
    """The 1-minute load average (runnable processes), 0.0 where it cannot be read."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0


_SET_BY_US: dict[str, int] = {}


def set_intra_op_threads(*, parameters: int, batch_size: int) -> int:
    """Set torch's intra-op threads by :func:`intra_op_threads` for this machine now; returns the count.

    The ceiling is torch's count before batchlab first changed it, so that a process training several
    runs (a study, a tuning worker) gives a large model back the threads a small one did not use; a
    count set by someone else in between (``torch.set_num_threads``) becomes the new ceiling.
    """
    import torch

    current = torch.get_num_threads()
    if _SET_BY_US.get("value") != current:  # first call, or changed outside batchlab since
        _SET_BY_US["ceiling"] = current
    ceiling, cores = _SET_BY_US["ceiling"], machine_cores()
    alone = intra_op_threads(parameters=parameters, batch_size=batch_size, cores=cores, load=0.0, ceiling=ceiling)
    # Only a choice between several threads needs the machine's load (sampling it takes 50 ms).
    load = busy_cores() if alone > 1 else 0.0
    threads = intra_op_threads(parameters=parameters, batch_size=batch_size, cores=cores, load=load, ceiling=ceiling)
    if threads != current:
        torch.set_num_threads(threads)
    _SET_BY_US["value"] = threads
    return threads


def use_recorded_threads(count: int) -> None:
    """Take the thread count a run recorded when it started (a resumed run).

    The rule reads the machine's load, and torch's CPU reductions round differently with another number
    of threads: the resumed steps use the count of the first ones, so a resume stays bit-identical.
    """
    import torch

    if count >= 1 and count != torch.get_num_threads():
        torch.set_num_threads(count)
    if "ceiling" in _SET_BY_US:
        _SET_BY_US["value"] = torch.get_num_threads()
