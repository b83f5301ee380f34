"""What a loaded checkpoint must hold before anything is restored from it.

The manifest's checksums catch damaged files; these checks catch files that are intact but not what
batchlab wrote (crafted or edited by hand): a ``state.json`` of ``{}``, an ``rng.pt`` of another shape,
an optimizer state for other parameter groups. A checkpoint that fails them raises
:class:`~batchlab.errors.CheckpointError`, so resuming falls back to the previous checkpoint with a
warning, as it does for a damaged one; nothing of the run is touched before the checks pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from batchlab.errors import CheckpointError

if TYPE_CHECKING:
    from batchlab.train.checkpoint import Checkpoint

__all__ = ["check_contents", "check_optimizer_fits", "check_resumable"]

_COUNTERS = ("epoch", "batch", "step", "samples")
_LOOP_KEYS = (*_COUNTERS, "seconds", "history", "stop", "stop_reason")  # what LoopState.load_state_dict reads


def check_contents(checkpoint: Checkpoint) -> None:
    """Raise unless ``state.json``, ``rng.pt`` and ``optimizer.pt`` have the structure batchlab writes.

    Raises:
        CheckpointError: naming the checkpoint, the file and what is wrong with it.
    """
    where = f"checkpoint {str(checkpoint.path)!r}"
    state = checkpoint.state
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: state.json holds a {type(state).__name__}, not an object")
    for key in _COUNTERS:
        value = state.get(key, 0 if key != "step" else None)  # every checkpoint has a step; a loop's has all
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckpointError(f"{where}: state.json has {key}={value!r}; expected a count (an integer >= 0)")
    if not isinstance(state.get("seconds", 0.0), (int, float)) or not isinstance(state.get("history", []), list):
        raise CheckpointError(f"{where}: state.json has seconds or history of another type")
    if not all(isinstance(row, dict) for row in state.get("history", [])):
        raise CheckpointError(f"{where}: state.json has a history row that is not an object")
    _check_python_numpy_rng(state, where)
    _check_torch_rng(checkpoint.rng, where)
    optimizer = checkpoint.optimizer
    inner = optimizer.get("optimizer") if isinstance(optimizer, dict) else None
    if not isinstance(inner, dict) or not isinstance(inner.get("param_groups"), list):
        raise CheckpointError(f"{where}: optimizer.pt holds no optimizer state with parameter groups")
    if not isinstance(inner.get("state"), dict):
        raise CheckpointError(f"{where}: optimizer.pt holds no per-parameter state")
    for group in inner["param_groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            raise CheckpointError(f"{where}: optimizer.pt has a parameter group without its parameters")


def check_resumable(checkpoint: Checkpoint, optimizer: torch.optim.Optimizer) -> None:
    """Raise unless the checkpoint holds a training loop's whole state and an optimizer state that fits."""
    missing = [key for key in _LOOP_KEYS if key not in checkpoint.state]
    if missing:
        raise CheckpointError(
            f"checkpoint {str(checkpoint.path)!r}: state.json lacks {', '.join(missing)} of the training loop's state"
        )
    check_optimizer_fits(checkpoint, optimizer)


def check_optimizer_fits(checkpoint: Checkpoint, optimizer: torch.optim.Optimizer) -> None:
    """Raise unless the saved optimizer state has the parameter groups (and sizes) of ``optimizer``."""
    saved = checkpoint.optimizer["optimizer"]["param_groups"]
    saved_sizes = [len(group["params"]) for group in saved]
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    if saved_sizes != sizes:
        raise CheckpointError(
            f"checkpoint {str(checkpoint.path)!r}: optimizer.pt has parameter groups of {saved_sizes} parameters, "
            f"the run's optimizer {sizes}"
        )


def _check_torch_rng(rng: Any, where: str) -> None:
    if not isinstance(rng, dict):
        raise CheckpointError(f"{where}: rng.pt holds a {type(rng).__name__}, not the generator states")
    size = torch.get_rng_state().numel()
    states = [rng.get("torch"), *(rng.get("torch_per_rank") or [])]
    for value in states:
        if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8 or value.numel() != size:
            raise CheckpointError(f"{where}: rng.pt does not hold torch generator states ({size} bytes each)")


def _check_python_numpy_rng(state: dict[str, Any], where: str) -> None:
    python, numpy = state.get("python"), state.get("numpy")
    if python is not None and not (
        isinstance(python, list)
        and len(python) == 3
        and isinstance(python[1], list)
        and len(python[1]) == 625
        and all(isinstance(v, int) for v in python[1])
    ):
        raise CheckpointError(f"{where}: state.json has a Python generator state of another form")
    if numpy is not None and not (
        isinstance(numpy, list)
        and len(numpy) == 5
        and isinstance(numpy[1], list)
        and len(numpy[1]) == 624
        and all(isinstance(v, int) for v in numpy[1])
        and isinstance(numpy[2], int)
    ):
        raise CheckpointError(f"{where}: state.json has a NumPy generator state of another form")
