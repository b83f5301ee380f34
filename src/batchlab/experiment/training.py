"""One training run with its run directory: build the parts, train, evaluate on the test split, write.

:func:`train_run` owns the run directory; everything else comes from the run builder
(:func:`~batchlab.experiment.builder.build_run`), which checks the config against the data before any
file is written, so a mistake leaves nothing behind. A run that fails before its first checkpoint
removes the directory it created (the same command can simply be run again); one that fails later
keeps it, marked ``failed`` in ``run.json``, and resumes with ``--resume``.

One process at a time writes a run directory (an exclusive lock on ``.lock`` inside it). ``run.json``
records the status (``training``, ``interrupted``, ``failed``, ``finished``, ``diverged``) and the
SHA-256 of ``config.yaml``: a finished run stays finished (``--resume`` changes nothing unless
``train.epochs`` or ``train.max_steps`` is raised), and a ``config.yaml`` edited since the run started is
refused rather than silently trained on.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from batchlab.atomic import write_text
from batchlab.config import Config, config_to_yaml, diff_configs, flat_fields, make_config, resolve_data_paths
from batchlab.errors import BatchlabError, CheckpointError, ConfigError, DivergenceError, InterruptedRun
from batchlab.experiment.builder import RunParts, build_run
from batchlab.experiment.rundir import RunDirectory, check_free_space, default_run_path
from batchlab.locking import DirectoryLock
from batchlab.train.callbacks import Callback, Checkpointing, CSVLogger, ProgressBar
from batchlab.train.callbacks.csv_logger import read_metrics_rows
from batchlab.train.callbacks.graceful_stop import GracefulStop
from batchlab.train.callbacks.tensorboard import TENSORBOARD_DIR, TensorBoardLogger
from batchlab.train.callbacks.tracker import MetricTracker
from batchlab.train.checkpoint import find_checkpoints, load_weights, save_weights
from batchlab.train.distributed import DistributedInfo, broadcast_object, finish_distributed, init_distributed
from batchlab.train.evaluation import evaluate_batches
from batchlab.train.loop import fit
from batchlab.train.resume import resume_from_checkpoints, weight_mismatches
from batchlab.train.state import LoopState
from batchlab.train.threads import use_recorded_threads

__all__ = ["RunResult", "train_run"]


@dataclass
class RunResult:
    """What a finished run gives back.

    Attributes:
        run_dir: the run directory.
        history: one dict per evaluation (the rows of ``metrics.csv``).
        test_metrics: metrics on the test split (``None`` without one).
        stop_reason: why training ended.
        best_epoch: the epoch whose weights were kept by early stopping (``None`` if it did not restore).
        model: the trained module (on the training device).
        config: the resolved config.
        info: the facts written to ``run.json``.
        parts: the run's parts (data, objective, batches, ...), e.g. to evaluate other splits; under data
            parallelism its ``model`` is ``module`` (the wrapper ends with the run).
        already_finished: ``--resume`` found the run finished and changed nothing (``model`` holds its
            saved weights, ``history`` its metrics rows).
    """

    run_dir: Path
    history: list[dict[str, Any]]
    test_metrics: dict[str, Any] | None
    stop_reason: str
    best_epoch: int | None
    model: torch.nn.Module
    config: Config
    info: dict[str, Any] = field(default_factory=dict)
    parts: RunParts | None = None
    already_finished: bool = False


def train_run(
    config: Config,
    *,
    model: torch.nn.Module | None = None,
    run_dir: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    resume: bool = False,
    progress: bool = True,
    console: Any = None,
    data: Any = None,
) -> RunResult:
    """Train, evaluate and save one run.

    Args:
        config: the validated config. Relative data paths are resolved against the working directory
            (the given values are kept in ``run.json``), so the run directory works from anywhere.
        model: a module to train instead of the config's model (see :func:`build_run`).
        run_dir: where to write the run; default ``runs/<config.name>-<timestamp>``.
        callbacks: extra callbacks, called after the built-in ones.
        resume: continue the run in ``run_dir`` from its latest valid checkpoint. A finished run is left
            as it is (see :attr:`RunResult.already_finished`) unless ``config`` raises ``train.epochs``
            or ``train.max_steps``, which continues it to the new end.
        progress: show the progress bar and the per-epoch table.
        console: a ``rich.console.Console`` for progress output.
        data: the prepared data of ``config.data``, when the caller has it already (studies).

    Raises:
        BatchlabError: a config, data or checkpoint problem (nothing is written); the run directory is
            in use by another process; on resume, its ``config.yaml`` was edited or differs from ``config``.
        DivergenceError: the loss became NaN or infinite (the run directory keeps what was done).
        InterruptedRun: SIGINT / SIGTERM; a checkpoint was written.
    """
    started = time.perf_counter()
    workers = DistributedInfo.from_env()
    init_distributed(workers)
    try:
        # In its own frame: under data parallelism the model's wrapper holds the process group, and it
        # must be gone (collected) before the group is destroyed, not left to interpreter exit.
        return _run(config, model, run_dir, list(callbacks), resume, progress, console, data, workers, started)
    finally:
        finish_distributed()


def _run(
    config: Config,
    model: torch.nn.Module | None,
    run_dir: str | Path | None,
    callbacks: list[Callback],
    resume: bool,
    progress: bool,
    console: Any,
    data: Any,
    workers: DistributedInfo,
    started: float,
) -> RunResult:
    config, given_paths = resolve_data_paths(config)
    parts = build_run(config, model=model, data=data, workers=workers)
    run, created, lock = _open_run_directory(config, run_dir, resume, parts)
    try:
        plan = _plan_resume(run, config) if resume else None
        if plan is not None and plan.finished:
            return _finished_result(run, parts, plan)
        return _train(parts, run, plan, callbacks, progress, console, started, given_paths)
    except (InterruptedRun, DivergenceError):
        raise
    except BaseException as exc:
        _abandon(run, created, parts, exc, mark=not isinstance(exc, BatchlabError))
        raise
    finally:
        lock.release()


@dataclass(frozen=True)
class _ResumePlan:
    """What ``--resume`` does with a run: continue it, leave it (finished), or extend a finished one."""

    info: dict[str, Any]
    finished: bool = False
    extend: bool = False


def _plan_resume(run: RunDirectory, config: Config) -> _ResumePlan:
    """Check a run before resuming it and decide what to do.

    Raises:
        CheckpointError: ``config.yaml`` was edited since the run started, or ``config`` differs from it,
            in more than ``name``, ``train.epochs`` and ``train.max_steps``.
    """
    info = _read_run_info(run)
    original = _check_config_unedited(run, info)
    saved = _check_same_config(run, config)
    status = info.get("status")
    if status not in ("finished", "diverged"):
        return _ResumePlan(info)
    if status == "finished" and _extends(original or saved, config, info):
        return _ResumePlan(info, extend=True)
    return _ResumePlan(info, finished=True)


def _read_run_info(run: RunDirectory) -> dict[str, Any]:
    """``run.json``, or ``{}`` when a run was killed before writing it (it then resumes as unfinished)."""
    if not run.run_file.exists():
        return {}
    info = run.read_json("run.json")
    if not isinstance(info, dict):
        raise CheckpointError(f"{str(run.run_file)!r} is not a JSON object (damaged?)")
    return info


def config_digest(text: str) -> str:
    """SHA-256 of a run's ``config.yaml`` text (hex), as recorded in ``run.json``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_MAY_CHANGE = ("name", "train.epochs", "train.max_steps", "train.log.")
"""Config fields a resumed run may change (its length), by ``--set`` or by editing ``config.yaml``."""


def _check_config_unedited(run: RunDirectory, info: dict[str, Any]) -> Config | None:
    """Refuse a run whose ``config.yaml`` was edited (beyond its length) since the run wrote it.

    ``run.json`` records the SHA-256 of ``config.yaml`` and the config itself; when the checksum
    differs, the two configs are compared to name the fields that changed.

    Returns:
        The config the run recorded, or ``None`` for a run of an earlier version (nothing recorded).
    """
    recorded, original = info.get("config_sha256"), _recorded_config(info)
    if not recorded or original is None:
        return None
    try:
        text = run.config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    if text is not None and config_digest(text) == recorded:
        return original
    edited = None
    if text is not None:
        try:
            edited = diff_configs(original, resolve_data_paths(run.read_config())[0], ignore=_MAY_CHANGE)
        except BatchlabError:
            edited = None
    if edited == []:
        return original  # only the length, comments or layout changed: the run trains the same
    shown = "; ".join(edited[:5]) + ("; ..." if len(edited) > 5 else "") if edited else "it cannot be read"
    raise CheckpointError(
        f"--resume {run.path}: config.yaml was edited after the run started ({shown}); put the values back, "
        "or start a new run (to train longer: --resume RUN --set train.epochs=N)"
    )


def _recorded_config(info: dict[str, Any]) -> Config | None:
    try:
        return make_config(info["config"]) if isinstance(info.get("config"), dict) else None
    except BatchlabError:
        return None


def _extends(saved: Config, config: Config, info: dict[str, Any]) -> bool:
    """``config`` raises the finished run's epochs or max_steps past where the run ended."""
    old, new = saved.train, config.train
    raised = _raised(old.epochs, new.epochs) or _raised(old.max_steps, new.max_steps)
    if not raised:
        return False
    epochs_run, steps = int(info.get("epochs_run") or 0), int(info.get("steps") or 0)
    short_of_epochs = new.epochs is None or epochs_run < new.epochs
    short_of_steps = new.max_steps is None or steps < new.max_steps
    return short_of_epochs and short_of_steps


def _raised(old: int | None, new: int | None) -> bool:
    return old is not None and (new is None or new > old)


def _finished_result(run: RunDirectory, parts: RunParts, plan: _ResumePlan) -> RunResult:
    """A finished run as it is on disk: its saved weights, metrics rows, test metrics and facts."""
    info = plan.info
    if run.weights_file.exists():
        weights = load_weights(run.weights_file)
        mismatched = weight_mismatches(parts.module.state_dict(), weights)
        if mismatched:
            raise CheckpointError(f"{str(run.weights_file)!r} does not fit the model: {'; '.join(mismatched)}")
        parts.module.load_state_dict({k: v.to(parts.device) for k, v in weights.items()})
    test = run.read_json("test_metrics.json") if run.test_metrics_file.exists() else None
    history = read_metrics_rows(run.metrics_file)
    return RunResult(
        run.path,
        history,
        test,
        str(info.get("stop_reason") or info.get("status") or ""),
        info.get("best_epoch"),
        parts.module,
        parts.config,
        info,
        _unwrapped(parts),
        already_finished=True,
    )


def _unwrapped(parts: RunParts) -> RunParts:
    """``parts`` whose ``model`` is the trained module: a result must not keep the data-parallel wrapper,
    which holds the process group (destroyed when the run ends) until the interpreter exits."""
    return replace(parts, model=parts.module) if parts.workers.enabled else parts


def _train(
    parts: RunParts,
    run: RunDirectory,
    plan: _ResumePlan | None,
    callbacks: list[Callback],
    progress: bool,
    console: Any,
    started: float,
    given_paths: dict[str, str],
) -> RunResult:
    config, workers = parts.config, parts.workers
    info = {**parts.info, "data_paths_given": given_paths} if given_paths else dict(parts.info)
    config_text = config_to_yaml(config)
    info.update(config_sha256=config_digest(config_text), config=config.model_dump(mode="json"))
    checkpointing = _checkpointing(config, run, workers.is_main)
    writers: list[Callback] = [CSVLogger(run.metrics_file)] if workers.is_main else []
    tensorboard = _tensorboard(config, run, info) if workers.is_main else None
    writers += [tensorboard] if tensorboard is not None else []
    # Checkpointing comes after the callbacks whose state it saves; the progress bar goes last so that
    # its closing lines see what the others did at train end.
    show = progress and workers.is_main
    every = [*parts.callbacks, *writers, checkpointing, GracefulStop(checkpointing), *callbacks]
    every += [ProgressBar(console)] if show else []
    state = LoopState()
    if plan is not None:
        recorded = plan.info.get("threads")
        if not config.train.threads and parts.device.type == "cpu" and isinstance(recorded, int):
            use_recorded_threads(recorded)
        resume_from_checkpoints(
            run.checkpoints,
            model=parts.model,
            optimizer=parts.optimizer,
            scheduler=parts.scheduler,
            state=state,
            callbacks=every,
            device=parts.device,
            rank=workers.rank,
            world_size=workers.world_size,
            clean_staging=workers.is_main,
        )
        if plan.extend:
            _reopen(state, parts)
        if workers.is_main and (plan.extend or _read_text(run.config_file) != config_text):
            write_text(run.config_file, config_text)  # a new length, and the checksum that goes with it
            run.write_json("run.json", {**info, "status": "training"})
    elif workers.is_main:
        write_text(run.config_file, config_text)
        run.write_json("preprocess.json", parts.data.preprocessor.state_dict())
        run.write_json("run.json", {**info, "status": "training"})

    state = fit(
        parts.model,
        parts.train,
        objective=parts.objective,
        optimizer=parts.optimizer,
        scheduler=parts.scheduler,
        val=parts.val,
        settings=parts.settings,
        callbacks=every,
        state=state,
        info=info,
    )
    early = parts.early_stopping
    best_epoch = early.best_epoch if early is not None and early.restored else None
    if state.interrupted:
        if workers.is_main:
            run.write_json("run.json", {**info, "status": "interrupted", "stop_reason": state.stop_reason})
        raise InterruptedRun(
            f"interrupted by {state.interrupted} at step {state.step}; checkpoint written. "
            f"Resume with: batchlab train --resume {run.path}"
        )
    test_metrics = None
    if workers.is_main:
        save_weights(run.weights_file, parts.module.state_dict())
        test = parts.data.test
        if test is not None and len(test) and not state.diverged:
            test_metrics = evaluate_batches(
                parts.module, parts.eval_batches(test).epoch(0), parts.objective, detailed=True, across_ranks=False
            )
            run.write_json("test_metrics.json", test_metrics)
    if tensorboard is not None:
        tensorboard.add_final_metrics(test_metrics)
    info.update(
        status="diverged" if state.diverged else "finished",
        stop_reason=state.stop_reason,
        best_epoch=best_epoch,
        stopped_epoch=early.stopped_epoch if early is not None else None,
        epochs_run=state.epoch,
        steps=state.step,
        samples=state.samples,
        train_seconds=round(state.seconds, 3),
        total_seconds=round(time.perf_counter() - started, 3),
    )
    if "batch_changes" in state.extra:  # a batch-size schedule: every change of size (step, samples, reason)
        info["batch_changes"] = state.extra["batch_changes"]
    if workers.is_main:
        run.write_json("run.json", info)
    if state.diverged:
        raise DivergenceError(f"{state.diverged} (run directory: {run.path})")
    stop_reason = state.stop_reason or ""
    return RunResult(
        run.path, state.history, test_metrics, stop_reason, best_epoch, parts.module, config, info, _unwrapped(parts)
    )


def _tensorboard(config: Config, run: RunDirectory, info: dict[str, Any]) -> TensorBoardLogger | None:
    """Event files in ``RUN_DIR/tensorboard`` when ``train.log.tensorboard``, with the run's hyperparameters:
    the data source, the model and training fields (not where checkpoints go or which device), and the
    effective batch and learning rate the run actually used."""
    if not config.train.log.tensorboard:
        return None
    skipped = ("train.checkpoint.", "train.log.", "train.device", "train.threads", "train.compile")
    fields = {
        path: value
        for path, value in flat_fields(config).items()
        if path.startswith(("model.", "train.")) and not path.startswith(skipped)
    }
    hparams = {"data.source": config.data.source, **fields}
    hparams.update({"effective_batch": info.get("effective_batch"), "lr": info.get("lr")})
    return TensorBoardLogger(run.path / TENSORBOARD_DIR, hparams)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _reopen(state: LoopState, parts: RunParts) -> None:
    """Let a finished run train on to a raised ``epochs``/``max_steps``.

    Early stopping's decision is dropped and its patience starts afresh (its best value is kept), as
    when ``fit`` is called again in other libraries; a run that stopped on its length needs nothing.
    """
    state.stop, state.stop_reason = False, None
    early = parts.early_stopping
    if early is not None:
        early.wait, early.stopped_epoch = 0, None


def _checkpointing(config: Config, run: RunDirectory, write: bool) -> Checkpointing:
    ck, es = config.train.checkpoint, config.train.early_stopping
    return Checkpointing(
        run.checkpoints,
        every_steps=ck.every_steps,
        every_epochs=ck.every_epochs,
        every_seconds=ck.every_seconds,
        keep=ck.keep,
        best=MetricTracker(es.monitor, es.mode, es.min_delta),
        write=write,
    )


def _open_run_directory(
    config: Config, run_dir: str | Path | None, resume: bool, parts: RunParts
) -> tuple[RunDirectory, bool, DirectoryLock]:
    """Rank 0 checks, creates and locks the run directory; every rank learns its path (or rank 0's error).

    Returns:
        The run directory, whether this call created it, and its lock (held by rank 0 only).
    """
    workers = parts.workers
    outcome: tuple[str | None, str | None, bool] = (None, None, False)
    lock = DirectoryLock(".", "run directory")  # a placeholder, never acquired, for the other ranks
    if workers.is_main:
        try:
            run = RunDirectory(run_dir if run_dir is not None else default_run_path(config.name))
            created = False
            if resume:
                run.require_run()
                lock = DirectoryLock(run.path, "run directory").acquire()
                run.remove_temporary_files()  # what a killed process was writing (no one else writes here)
            else:
                check_free_space(run.nearest_existing(), parts.module, config.train.checkpoint.keep)
                created = not run.path.exists()
                run.create()
                lock = DirectoryLock(run.path, "run directory").acquire()
                if run.has_content():  # another process wrote a run here between the check and the lock
                    lock.release()
                    run.create()  # raises "not empty"
                run.remove_temporary_files()  # of a run killed here before it wrote its config
            outcome = (str(run.path), None, created)
        except BatchlabError as exc:
            if not workers.enabled:
                raise
            outcome = (None, str(exc), False)
    path, error, created = broadcast_object(outcome)
    if error is not None:
        raise ConfigError(error)
    return RunDirectory(str(path)), bool(created), lock


def _abandon(run: RunDirectory, created: bool, parts: RunParts, error: BaseException, *, mark: bool) -> None:
    """After a failure: remove a directory this run created and never checkpointed, else mark it ``failed``.

    Without a checkpoint nothing in the directory is worth keeping, and removing it lets the same command
    run again; with one, ``--resume`` continues from it. ``mark=False`` (a user's mistake, e.g. on
    ``--resume``) leaves an existing run untouched.
    """
    if not parts.workers.is_main or not run.path.exists():
        return
    if created and not find_checkpoints(run.checkpoints):
        shutil.rmtree(run.path, ignore_errors=True)
        return
    if not mark:
        return
    try:
        info = run.read_json("run.json")
        reason = f"{type(error).__name__}: {error}".strip().splitlines()[0][:300]
        run.write_json("run.json", {**info, "status": "failed", "error": reason})
    except (BatchlabError, OSError):
        pass


def _check_same_config(run: RunDirectory, config: Config) -> Config:
    """Resuming with a config other than the saved one would silently train something else.

    Returns:
        The run's saved config (data paths resolved).
    """
    saved, _ = resolve_data_paths(run.read_config())
    differences = diff_configs(saved, config, ignore=_MAY_CHANGE)
    if differences:
        shown = "; ".join(differences[:5]) + ("; ..." if len(differences) > 5 else "")
        raise CheckpointError(
            f"--resume {run.path}: the config differs from the run's saved config.yaml: {shown} "
            "(a resumed run may change only train.epochs and train.max_steps)"
        )
    return saved
