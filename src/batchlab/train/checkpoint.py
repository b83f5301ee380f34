"""Checkpoints: everything needed to continue training, written atomically and loaded without pickle.

A checkpoint is a directory ``step-00000123/`` holding:

- ``model.safetensors``: the weights (safetensors: no code can run on load);
- ``extra.safetensors``: other tensors callbacks keep (e.g. early stopping's best weights);
- ``optimizer.pt``: optimizer and scheduler state, loaded with ``torch.load(weights_only=True)``;
- ``rng.pt``: torch's CPU (and CUDA) generator states, same loader;
- ``state.json``: loop counters, history, callback states, NumPy and Python RNG states;
- ``manifest.json``: the SHA-256 of every file above, written last.

The directory is assembled under a temporary name and renamed into place, so a checkpoint either
exists whole or not at all; the manifest catches files damaged later (truncation, bit rot).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from batchlab.errors import CheckpointError
from batchlab.train.checkpoint_contents import check_contents

__all__ = [
    "Checkpoint",
    "capture_rng",
    "find_checkpoints",
    "latest_valid_checkpoint",
    "load_checkpoint",
    "load_weights",
    "remove_stale_staging",
    "restore_rng",
    "save_checkpoint",
    "save_weights",
]

_FILES = ("model.safetensors", "extra.safetensors", "optimizer.pt", "rng.pt", "state.json")


@dataclass
class Checkpoint:
    """A loaded checkpoint's parts."""

    path: Path
    model: dict[str, torch.Tensor]
    extra: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: dict[str, Any]
    state: dict[str, Any]


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor]) -> None:
    """Write weights as safetensors atomically (shared storage is cloned, tensors made contiguous)."""
    from batchlab.atomic import atomic_path

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read safetensors weights; a damaged file is a :class:`CheckpointError`."""
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"weights file {str(path)!r} does not exist") from None
    except Exception as exc:  # safetensors raises its own error types for damaged headers
        raise CheckpointError(f"weights file {str(path)!r} is damaged: {exc}") from None


def capture_rng() -> dict[str, Any]:
    """Every global random generator's state (torch CPU and CUDA, NumPy, Python)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _python_numpy_rng() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    assert isinstance(keys, np.ndarray)  # the legacy MT19937 tuple form
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def restore_rng(tensors: dict[str, Any], state: dict[str, Any], rank: int = 0, world_size: int = 1) -> None:
    """Undo :func:`capture_rng` (tensors) and the Python/NumPy part stored in ``state.json``.

    A checkpoint from ``world_size`` data-parallel ranks restores each rank's own generator; on another
    number of ranks every rank takes rank 0's (training continues, but not bit for bit).
    """
    per_rank = tensors.get("torch_per_rank")
    if per_rank is not None and len(per_rank) == world_size:
        torch.set_rng_state(per_rank[rank])
    else:
        torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tensors["cuda"])
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(
    directory: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
    rng_per_rank: list[torch.Tensor] | None = None,
) -> Path:
    """Write ``directory/step-<step>`` atomically and return its path.

    Args:
        directory: the run's ``checkpoints/`` folder.
        state: JSON-serializable loop state (must contain ``step``) and callback states.
        extra_tensors: additional named tensors (saved as safetensors).
        rng_per_rank: under data parallelism, every rank's torch generator state (rank order).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{int(state['step']):09d}"
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=directory))
    try:
        save_file(_cpu(model.state_dict()), str(staging / "model.safetensors"))
        save_file(_cpu(extra_tensors or {}), str(staging / "extra.safetensors"))
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
            },
            staging / "optimizer.pt",
        )
        rng = capture_rng()
        if rng_per_rank is not None:
            rng["torch_per_rank"] = rng_per_rank
        torch.save(rng, staging / "rng.pt")
        full_state = {**state, **_python_numpy_rng()}
        (staging / "state.json").write_text(json.dumps(full_state), encoding="utf-8")
        manifest = {name: _sha256(staging / name) for name in _FILES}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        for name in (*_FILES, "manifest.json"):
            _fsync(staging / name)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Verify the manifest and load every part without unpickling arbitrary objects.

    Raises:
        CheckpointError: a file is missing, its checksum differs, or it cannot be parsed.
    """
    path = Path(path)
    manifest_path = path / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CheckpointError(f"checkpoint {str(path)!r} has no readable manifest.json") from None
    if not isinstance(manifest, dict):
        raise CheckpointError(
            f"checkpoint {str(path)!r}: manifest.json holds a {type(manifest).__name__}, not an object"
        )
    for name in _FILES:
        file = path / name
        if not file.exists():
            raise CheckpointError(f"checkpoint {str(path)!r} is missing {name}")
        if _sha256(file) != manifest.get(name):
            raise CheckpointError(
                f"checkpoint {str(path)!r}: {name} does not match its checksum (damaged or truncated)"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing a file
            optimizer = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
            rng = torch.load(path / "rng.pt", map_location="cpu", weights_only=True)
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        checkpoint = Checkpoint(
            path,
            load_file(str(path / "model.safetensors")),
            load_file(str(path / "extra.safetensors")),
            optimizer,
            rng,
            state,
        )
        check_contents(checkpoint)
        return checkpoint
    except CheckpointError:
        raise
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds objects other than tensors and plain data; refused without running them"
        ) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be loaded safely: {exc.__class__.__name__}: {first}"
        ) from None


def find_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoint directories under ``directory``, oldest first (temporary ones are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith("step-"))


def remove_stale_staging(directory: str | Path) -> list[Path]:
    """Delete half-assembled checkpoint folders left by a process that died while writing one."""
    directory = Path(directory)
    stale = sorted(directory.glob(".step-*.tmp")) if directory.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def latest_valid_checkpoint(
    directory: str | Path, fits: Callable[[Checkpoint], None] | None = None
) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint that verifies (and that ``fits`` accepts, if given: it raises
    :class:`CheckpointError` otherwise), and a message for each newer one that did not."""
    problems: list[str] = []
    for path in reversed(find_checkpoints(directory)):
        try:
            checkpoint = load_checkpoint(path)
            if fits is not None:
                fits(checkpoint)
            return checkpoint, problems
        except CheckpointError as exc:
            problems.append(str(exc))
    return None, problems


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
