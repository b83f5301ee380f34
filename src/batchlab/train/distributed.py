"""Data-parallel training on PyTorch DDP: process group, rank facts, the few collectives the loop needs.

batchlab does not implement communication: gradients are averaged by
``torch.nn.parallel.DistributedDataParallel``; metrics and stop decisions use ``torch.distributed``
collectives. Processes are started by ``torchrun`` (or ``batchlab train --nproc N``), which sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
"""

from __future__ import annotations

import datetime
import gc
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from batchlab.errors import ConfigError

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = [
    "DistributedInfo",
    "agree_to_stop",
    "all_gather_object",
    "all_reduce_sum",
    "any_rank",
    "broadcast_object",
    "finish_distributed",
    "init_distributed",
    "is_distributed",
    "launch_torchrun",
    "per_worker_batch",
    "rank",
]

DEFAULT_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class DistributedInfo:
    """Where this process stands among the data-parallel workers.

    Attributes:
        rank: global rank in ``[0, world_size)``; rank 0 prints and writes files.
        world_size: number of processes (1 when not distributed).
        local_rank: rank on this machine (selects the GPU).
        backend: ``gloo`` (CPU) or ``nccl`` (GPUs).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = "gloo"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistributedInfo:
        """Read torchrun's environment; one process when ``WORLD_SIZE`` is unset or 1."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        return cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")), backend)


def init_distributed(info: DistributedInfo, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
    """Join the process group (once). A collective waiting longer than the timeout fails instead of hanging."""
    if not info.enabled or dist.is_initialized():
        return
    if info.backend == "nccl":
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group(
        info.backend,
        rank=info.rank,
        world_size=info.world_size,
        timeout=datetime.timedelta(seconds=timeout_seconds),
    )


def finish_distributed() -> None:
    """Wait for every rank (rank 0 writes last files), then leave the process group.

    Models wrapped in ``DistributedDataParallel`` hold the group; the ones no longer referenced are
    collected first, so that the group is destroyed here. Left to interpreter exit, its gloo threads
    can abort a worker whose work is done ("terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            gc.collect()
            dist.destroy_process_group()


def per_worker_batch(batch_size: int, world_size: int) -> int:
    """The per-worker share of a global batch; it must divide evenly.

    >>> per_worker_batch(64, 2)
    32

    Raises:
        ConfigError: naming the nearest global batch sizes that divide.
    """
    if batch_size < world_size:
        raise ConfigError(
            f"train.batch_size: the global batch {batch_size} is smaller than the {world_size} workers (each needs "
            f"at least one sample); use at most {batch_size} workers or a batch of at least {world_size}"
        )
    if batch_size % world_size == 0:
        return batch_size // world_size
    lower = batch_size - batch_size % world_size
    upper = lower + world_size
    options = f"{lower} or {upper}" if lower > 0 else f"{upper}"
    raise ConfigError(
        f"train.batch_size: the global batch {batch_size} does not divide among {world_size} workers; use {options}"
    )


def is_distributed() -> bool:
    """Whether this process is one of several in an initialized process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum ``values`` over all ranks in place (no-op on one process) and return it."""
    if is_distributed():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_rank(flag: bool, device: torch.device | None = None) -> bool:
    """Whether ``flag`` is true on at least one rank (so every rank takes the same decision)."""
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def all_gather_object(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (``[value]`` on one process)."""
    if not is_distributed():
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def agree_to_stop(state: LoopState) -> bool:
    """Whether training stops after this batch, decided the same on every rank.

    One process: ``state.stop``. Several: true when any rank asked to stop (for example its loss became
    NaN); then every rank adopts the first rank's reason and divergence message, so no rank waits for a
    collective the others will never reach.
    """
    if not is_distributed():
        return state.stop
    if not any_rank(state.stop):
        return False
    reasons = all_gather_object((state.stop_reason, state.diverged))
    reason = next((r for r, _ in reasons if r), "another worker stopped")
    diverged = next((d for _, d in reasons if d), None)
    state.stop_decided = False  # every rank adopts the same reason
    state.request_stop(reason)
    if diverged:
        state.diverged = diverged
    return True


def broadcast_object(value: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``value`` on every rank (a picklable object, e.g. a run directory path)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def launch_torchrun(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m batchlab ARGV`` under ``torchrun --nproc-per-node NPROC`` and return its exit code."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "batchlab",
        *argv,
    ]
    return subprocess.call(command)
