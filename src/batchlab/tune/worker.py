"""A worker: admit a trial through the gate, run it, repeat until the study is done.

One worker runs in the ``batchlab tune`` process itself (``--workers 1``), or N run as child processes
(``--workers N``), or more join from other machines with the same command and ``--storage URL``. They
share nothing but the storage: each opens it, loads the study, and loops::

    with gate:                      # one worker at a time (see batchlab.tune.gate)
        recover dead workers' trials
        stop if the budget, deadline or grid is used up
        study.optimize(n_trials=1)  # ask -> objective records worker + params -> releases the gate -> trains
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from batchlab.errors import BatchlabError, InterruptedRun
from batchlab.tune.budget import stop_reason
from batchlab.tune.grid import grid_points
from batchlab.tune.objective import TrialFailed, TrialObjective
from batchlab.tune.owner import Owner
from batchlab.tune.pruners import make_pruner
from batchlab.tune.recovery import recover_trials
from batchlab.tune.samplers import make_sampler
from batchlab.tune.settings import TuneSettings
from batchlab.tune.storage import open_storage

if TYPE_CHECKING:
    import multiprocessing.queues

    import optuna

__all__ = ["PRELOAD", "preload", "quiet_optuna", "run_worker", "worker_process"]

log = logging.getLogger(__name__)

# Modules a trial needs: batchlab's training stack, and what torch (its compiler front end, loaded by the
# optimizers) and scikit-learn (the bundled datasets) import on first use.
PRELOAD = ("batchlab.tune.worker", "batchlab.experiment.training", "optuna", "torch._dynamo", "sklearn.datasets")

# Exit codes of worker processes.
EXIT_INTERRUPTED = 130
EXIT_USER_ERROR = 2
EXIT_CRASH = 1


def run_worker(
    settings: TuneSettings,
    index: int = 0,
    *,
    deadline: float | None = None,
    on_trial: Callable[[optuna.Study], None] | None = None,
) -> str:
    """Run trials of the (existing) study until it is done; return why this worker stopped.

    Args:
        settings: the study.
        index: the worker's number on this machine.
        deadline: ``time.time()`` after which no trial starts.
        on_trial: called after every trial this worker finishes (e.g. to redraw a live table).

    Raises:
        InterruptedRun, KeyboardInterrupt: Ctrl-C or SIGTERM (the running trial is marked interrupted).
        BatchlabError: the storage cannot be opened or the study does not exist.
    """
    import optuna

    preload()
    quiet_optuna()
    opened = open_storage(settings.storage, settings.study_dir)
    study = optuna.load_study(
        study_name=settings.study_name,
        storage=opened.storage,
        sampler=make_sampler(settings),
        pruner=make_pruner(settings),
    )
    grid = grid_points(settings.space, settings.grid_points) if settings.method == "grid" else None
    gate = opened.gate(settings.study_name)
    objective = TrialObjective(settings, gate, Owner.current())
    callbacks = [lambda study, _trial: on_trial(study)] if on_trial is not None else None
    try:
        while True:
            with gate:
                recover_trials(study, exclusive=gate.exclusive)
                trials = study.get_trials(deepcopy=False)
                reason = stop_reason(trials, budget=settings.trials, deadline=deadline, now=time.time(), grid=grid)
                if reason is not None:
                    return reason
                study.optimize(objective, n_trials=1, catch=(TrialFailed,), callbacks=callbacks)
    finally:
        gate.close()


def preload() -> None:
    """Import what a first trial would import lazily, so that its duration is the training's alone."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def quiet_optuna() -> None:
    """Optuna's per-trial INFO and caught-failure WARNING lines repeat what the live table shows."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def worker_process(
    settings: TuneSettings,
    index: int,
    deadline: float | None,
    threads: int | None,
    messages: multiprocessing.queues.Queue[Any],
) -> None:
    """Entry point of a worker child process; its exit code says how it ended (0, 1, 2 or 130)."""
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)
    code = 0
    try:
        run_worker(settings, index, deadline=deadline)
    except (InterruptedRun, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    except BatchlabError as exc:
        messages.put((index, str(exc)))
        code = EXIT_USER_ERROR
    except Exception:  # a bug: the parent, which owns the terminal, reports it
        messages.put((index, traceback.format_exc()))
        code = EXIT_CRASH
    finally:
        messages.close()
        messages.join_thread()
    raise SystemExit(code)
