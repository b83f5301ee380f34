"""``run_study``: check, open or resume the study, run its workers, write the results.

Example:
    >>> from batchlab.config import load_config
    >>> from batchlab.tune import load_space, make_settings, run_study
    >>> settings = make_settings(load_config("configs/digits.yaml"), load_space("space.yaml"),
    ...                          method="bayes", trials=20, prune="median")  # doctest: +SKIP
    >>> outcome = run_study(settings)  # doctest: +SKIP
    >>> outcome.best.value, outcome.best.params  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import queue
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from batchlab.errors import BatchlabError, ConfigError
from batchlab.locking import DirectoryLock
from batchlab.plural import counted
from batchlab.tune.budget import stop_reason
from batchlab.tune.grid import grid_points
from batchlab.tune.live import LiveTrials
from batchlab.tune.preflight import preflight
from batchlab.tune.recovery import counted_trials
from batchlab.tune.results import TUNE_FILE, read_tune_json, settings_record, write_results, write_tune_json
from batchlab.tune.rows import TrialRow, best_row, trial_rows
from batchlab.tune.settings import TuneSettings
from batchlab.tune.storage import StudyStorage, open_storage
from batchlab.tune.worker import EXIT_USER_ERROR, PRELOAD, quiet_optuna, run_worker, worker_process

if TYPE_CHECKING:
    import optuna

__all__ = ["StudyOutcome", "run_study"]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
IDENTITY_ATTR = "batchlab"


@dataclass
class StudyOutcome:
    """What ``run_study`` gives back.

    Attributes:
        study_dir: the study directory.
        rows: every trial of the study.
        best: the best complete trial, or ``None``.
        stop: why the study stopped (budget, time limit, grid covered).
        record: the ``tune.json`` record.
        resumed: the study existed before this call.
    """

    study_dir: Path
    rows: list[TrialRow]
    best: TrialRow | None
    stop: str
    record: dict[str, Any]
    resumed: bool


def run_study(settings: TuneSettings, console: Console | None = None) -> StudyOutcome:
    """Run (or resume, or join) a study until its budget, time limit or grid is used up.

    Args:
        settings: the study (see :func:`batchlab.tune.make_settings`).
        console: where the live table goes; ``None`` shows nothing.

    Raises:
        ConfigError: a bad space or option, or a study that exists with other settings.
        DataError: the base config's data cannot be loaded.
        KeyboardInterrupt: Ctrl-C (the results written so far stay; the same call resumes).
    """

    quiet_optuna()
    context = _process_context() if settings.workers > 1 else None
    if context is not None and context.get_start_method() == "forkserver":
        # Let the fork server import torch while this process checks the settings and loads the data.
        multiprocessing.forkserver.ensure_running()
    preflight(settings)
    study_dir = Path(settings.study_dir)
    _check_study_dir(settings)
    with DirectoryLock(study_dir, "tuning study directory"):  # one process at a time writes it
        return _run_locked(settings, study_dir, context, console)


def _run_locked(settings: TuneSettings, study_dir: Path, context: Any, console: Console | None) -> StudyOutcome:
    opened = open_storage(settings.storage, study_dir)
    study, resumed = _open_study(settings, opened)
    if not resumed:
        _check_no_old_trials(study_dir, settings)
    record = settings_record(settings, opened.url if settings.storage is not None else None)
    write_tune_json(study_dir, {**record, "status": "running"})
    deadline = time.time() + settings.timeout if settings.timeout else None
    live = LiveTrials(settings, console)
    status = "interrupted"
    try:
        with live:
            if resumed:
                live.skip(study.get_trials(deepcopy=False))
                _say_resumed(console, study)
            if settings.workers == 1:
                stop = run_worker(settings, 0, deadline=deadline, on_trial=lambda s: live.update(s.get_trials()))
            else:
                stop = _run_processes(settings, context, study, deadline, live)
            live.update(study.get_trials(deepcopy=False))
        status = "finished"
    finally:
        rows = trial_rows(study.get_trials(deepcopy=False), settings.space)
        record = write_results(settings, study, rows, record, status=status, plots=status == "finished")
    return StudyOutcome(study_dir, rows, best_row(rows, settings.direction), stop, record, resumed)


def _open_study(settings: TuneSettings, opened: StudyStorage) -> tuple[optuna.Study, bool]:
    """Load the study, or create it; refuse one that was started with other settings."""
    import optuna

    try:
        study = optuna.load_study(study_name=settings.study_name, storage=opened.storage)
        resumed = True
    except KeyError:
        study = optuna.create_study(
            study_name=settings.study_name,
            storage=opened.storage,
            direction=optuna.study.StudyDirection[settings.direction.upper()],
            load_if_exists=True,  # another machine may create it at the same moment
        )
        resumed = False
    identity = settings.identity()
    stored = study.user_attrs.get(IDENTITY_ATTR)
    if stored is None:
        if study.get_trials(deepcopy=False):
            raise ConfigError(
                f"--study {settings.study_name}: {opened.url} holds a study of that name that batchlab tune did not "
                "make; choose another --study NAME"
            )
        study.set_user_attr(IDENTITY_ATTR, identity)
        stored = identity
    differences = _differences(stored, identity)
    if differences:
        raise ConfigError(
            f"--study {settings.study_name}: the study in {opened.url} was started with other settings "
            f"({'; '.join(differences[:4])}); resume it with the same config, space and options, "
            "or start a new one with --study NAME"
        )
    direction = study.direction.name.lower()
    if direction != settings.direction:
        raise ConfigError(f"--direction {settings.direction}: the study {settings.study_name} was made to {direction}")
    return study, resumed


def _differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    differences = []
    for key in sorted(set(stored) | set(current)):
        old, new = stored.get(key), current.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            old_flat, new_flat = _flatten(old), _flatten(new)
            paths = [p for p in sorted(set(old_flat) | set(new_flat)) if old_flat.get(p) != new_flat.get(p)]
            shown = ", ".join(f"{p}: {old_flat.get(p)!r} -> {new_flat.get(p)!r}" for p in paths[:3])
            differences.append(f"{key}: {shown}")
        else:
            differences.append(f"{key}: {old!r} -> {new!r}")
    return differences


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_study_dir(settings: TuneSettings) -> None:
    """A study directory belongs to one study: refuse to mix two in it."""
    study_dir = Path(settings.study_dir)
    if study_dir.exists() and not study_dir.is_dir():
        raise ConfigError(f"--study-dir {study_dir}: exists and is not a directory")
    if not (study_dir / TUNE_FILE).is_file():
        return
    try:
        previous = read_tune_json(study_dir)
    except (OSError, ValueError):
        return
    if previous.get("study") != settings.study_name:
        raise ConfigError(
            f"--study-dir {study_dir}: holds the study {previous.get('study')!r}, not {settings.study_name!r}; "
            "choose another --study-dir"
        )


def _check_no_old_trials(study_dir: Path, settings: TuneSettings) -> None:
    trials_dir = study_dir / "trials"
    if trials_dir.is_dir() and any(trials_dir.iterdir()):
        raise ConfigError(
            f"--study-dir {study_dir}: {trials_dir} holds runs of an earlier study that the storage no longer has; "
            "remove that folder or choose another --study-dir"
        )


def _say_resumed(console: Console | None, study: optuna.Study) -> None:
    if console is None:
        return
    finished = sum(t.state.is_finished() for t in counted_trials(study.get_trials(deepcopy=False)))
    console.print(f"Resuming study {study.study_name}: {counted(finished, 'trial')} finished so far", markup=False)


def _run_processes(
    settings: TuneSettings, context: Any, study: optuna.Study, deadline: float | None, live: LiveTrials
) -> str:
    """Run ``settings.workers`` child processes until they end; finish in-process what dead ones left."""
    messages = context.Queue()
    threads = None if settings.config.train.threads else max(1, (os.cpu_count() or 1) // settings.workers)
    processes = [
        context.Process(
            target=worker_process,
            args=(settings, index, deadline, threads, messages),
            name=f"batchlab-tune-worker-{index}",
        )
        for index in range(settings.workers)
    ]
    for process in processes:
        process.start()
    errors: list[tuple[int, str]] = []
    try:
        while any(p.is_alive() for p in processes):
            live.update(study.get_trials(deepcopy=False))
            errors += _drain(messages)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        _stop(processes)
        raise
    finally:
        for process in processes:
            process.join(timeout=5)
        errors += _drain(messages)
    for index, message in errors:
        code = processes[index].exitcode
        if code == EXIT_USER_ERROR:
            raise BatchlabError(message)
        log.error("tuning worker %d crashed:\n%s", index, message)
        raise BatchlabError(f"tuning worker {index} crashed: {message.strip().splitlines()[-1]}")
    dead = [(i, p.exitcode) for i, p in enumerate(processes) if p.exitcode != 0]
    for index, code in dead:
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"ended with exit code {code}"
        log.warning("tuning worker %d %s; this process finishes the study", index, how)
    if dead:
        # A killed worker leaves a trial that the others may have had no turn left to rerun: finish here.
        return run_worker(settings, 0, deadline=deadline, on_trial=lambda s: live.update(s.get_trials()))
    return _why_stopped(settings, study, deadline)


def _process_context() -> Any:
    """Fork workers from a server process that has imported torch and Optuna once.

    ``forkserver`` starts one clean process, lets it import the heavy modules, and forks each worker from
    it: N workers cost one import of torch rather than N (``spawn``), and inherit neither the parent's
    threads nor its database connections (``fork``).
    """
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))  # a module that is missing is skipped
    return context


def _why_stopped(settings: TuneSettings, study: optuna.Study, deadline: float | None) -> str:
    grid = grid_points(settings.space, settings.grid_points) if settings.method == "grid" else None
    trials = study.get_trials(deepcopy=False)
    reason = stop_reason(trials, budget=settings.trials, deadline=deadline, now=time.time(), grid=grid)
    return reason or "the workers ended"


def _drain(messages: Any) -> list[tuple[int, str]]:
    drained = []
    while True:
        try:
            drained.append(messages.get_nowait())
        except (queue.Empty, OSError, ValueError):
            return drained


def _stop(processes: list[Any]) -> None:
    """After Ctrl-C: the workers got SIGINT too; give them time to mark their trials, then insist."""
    for grace, sig in ((15.0, None), (15.0, signal.SIGTERM), (5.0, signal.SIGKILL)):
        if sig is not None:
            for process in processes:
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, sig)
        until = time.time() + grace
        while time.time() < until and any(p.is_alive() for p in processes):
            time.sleep(0.1)
        if not any(p.is_alive() for p in processes):
            return
