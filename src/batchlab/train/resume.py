"""Resume a run from its latest valid checkpoint: weights, optimizer, schedule, loop state, callbacks, RNG.

A damaged newer checkpoint is skipped with a warning for the one before it; with none left the run
starts over (the same seed gives the same run). Everything the loop needs is restored through the
state contracts: :class:`~batchlab.train.state.LoopState` (counters, history, the loop's own parts in
``components``), each callback's ``load_state_dict`` (and ``load_tensors`` for tensors it keeps), and
the random generators of every rank.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from batchlab.errors import CheckpointError
from batchlab.train.callbacks.base import CallbackList, TrainingContext, unwrap_module
from batchlab.train.checkpoint import Checkpoint, latest_valid_checkpoint, remove_stale_staging, restore_rng
from batchlab.train.checkpoint_contents import check_resumable

if TYPE_CHECKING:
    from batchlab.train.callbacks.base import Callback
    from batchlab.train.state import LoopState

__all__ = ["resume_from_checkpoints", "weight_mismatches"]

log = logging.getLogger(__name__)


def resume_from_checkpoints(
    directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: LoopState,
    callbacks: list[Callback],
    device: torch.device,
    rank: int = 0,
    world_size: int = 1,
    clean_staging: bool = True,
) -> Checkpoint | None:
    """Load the newest valid checkpoint of ``directory`` into the run's parts.

    Args:
        directory: the run's ``checkpoints/`` folder.
        model: the module being trained (wrappers are looked through).
        optimizer: its optimizer.
        scheduler: its schedule, or ``None``.
        state: a fresh loop state, filled in place.
        callbacks: every callback of the run, in the order the run uses them.
        device: where the weights go.
        rank: this process's data-parallel rank (each rank gets its own random state back).
        world_size: data-parallel processes.
        clean_staging: remove half-written checkpoint folders first (rank 0 only).

    Returns:
        The checkpoint loaded, or ``None`` when there was none yet (training starts from the beginning).

    Raises:
        CheckpointError: the checkpoint does not fit the model.
    """
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(
            f"--resume {directory.parent}: {str(directory)!r} is a file, not the folder of checkpoints; "
            "move it away (the run then starts over)"
        )
    if clean_staging:
        remove_stale_staging(directory)
    checkpoint, problems = latest_valid_checkpoint(directory, lambda found: check_resumable(found, optimizer))
    for problem in problems:
        log.warning("%s; falling back to an older checkpoint", problem)
    if checkpoint is None:
        log.warning("--resume %s: no valid checkpoint yet; training from the start", directory.parent)
        return None
    core = unwrap_module(model)
    mismatched = weight_mismatches(core.state_dict(), checkpoint.model)
    if mismatched:
        raise CheckpointError(
            f"--resume {directory.parent}: the checkpoint does not fit the model: {'; '.join(mismatched)}"
        )
    core.load_state_dict({k: v.to(device) for k, v in checkpoint.model.items()})
    optimizer.load_state_dict(checkpoint.optimizer["optimizer"])
    if scheduler is not None and checkpoint.optimizer.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint.optimizer["scheduler"])
    saved = checkpoint.state
    state.load_state_dict(saved)
    extra = dict(saved.get("extra", {}))
    if not state.components and ("running" in extra or "scaler" in extra):  # a checkpoint of an older version
        state.components = {"running": extra.pop("running", None), "precision": extra.pop("scaler", None)}
    state.extra.update(extra)
    hooks = CallbackList(callbacks, TrainingContext(model, optimizer, scheduler))
    hooks.load_state_dict(saved.get("callbacks", {}))
    for key, callback in hooks.keyed():
        load = getattr(callback, "load_tensors", None)
        if load is not None:
            prefix = f"{key}/"
            load({k[len(prefix) :]: v.to(device) for k, v in checkpoint.extra.items() if k.startswith(prefix)})
    restore_rng(checkpoint.rng, saved, rank, world_size)
    return checkpoint


def weight_mismatches(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], limit: int = 6) -> list[str]:
    """Tensors missing, unexpected or of another shape, as short phrases (at most ``limit``)."""
    problems = [f"missing {k}" for k in expected if k not in found]
    problems += [f"unexpected {k}" for k in found if k not in expected]
    problems += [
        f"{k}: checkpoint {tuple(found[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in found and tuple(found[k].shape) != tuple(v.shape)
    ]
    return problems[:limit] + ([f"and {len(problems) - limit} more"] if len(problems) > limit else [])
