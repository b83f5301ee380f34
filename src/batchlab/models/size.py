"""How much memory a model would take, known before any weight is allocated.

The model is built on PyTorch's ``meta`` device, which records shapes without storage, so a config
asking for ``model.hidden: [10000000, 10000000]`` is measured in microseconds instead of failing in the
allocator after minutes of swapping.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch

from batchlab.errors import ConfigError

if TYPE_CHECKING:
    from batchlab.config import ModelConfig
    from batchlab.inputs import InputSpec

__all__ = ["available_memory", "check_model_fits", "parameter_count", "training_bytes"]

# Tensors per parameter while training: weights and gradients, plus the optimizer's state
# (SGD momentum: one buffer; Adam/AdamW: two moments; RMSprop: square average and momentum).
_OPTIMIZER_BUFFERS = {"sgd": 1, "adam": 2, "adamw": 2, "rmsprop": 2}

# The fields that set a model family's size, named in the message.
_SIZE_FIELDS = {
    "mlp": "model.hidden",
    "cnn": "model.channels and model.hidden",
    "bag": "model.embed and model.ngram_buckets",
}


def parameter_count(cfg: ModelConfig, spec: InputSpec | tuple[int, ...], num_outputs: int, *, task: str) -> int:
    """Parameters of the model ``cfg`` would build (counted on the meta device: no memory used)."""
    from batchlab.models.registry import build_model

    with torch.device("meta"):
        model = build_model(cfg, spec, num_outputs, task=task)
    return sum(p.numel() for p in model.parameters())


def training_bytes(parameters: int, optimizer: str) -> int:
    """Bytes of float32 weights, gradients and optimizer state for ``parameters`` parameters.

    >>> training_bytes(1_000_000, "adam")
    16000000
    """
    return parameters * 4 * (2 + _OPTIMIZER_BUFFERS.get(optimizer, 2))


def available_memory(device: torch.device) -> int | None:
    """Free bytes on ``device``: ``MemAvailable`` of ``/proc/meminfo`` for the CPU; ``None`` if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_model_fits(
    cfg: ModelConfig,
    spec: InputSpec | tuple[int, ...],
    num_outputs: int,
    *,
    task: str,
    optimizer: str,
    device: torch.device,
) -> None:
    """Refuse a model whose weights, gradients and optimizer state alone exceed the free memory.

    Raises:
        ConfigError: naming the fields that size the model, the parameter count and the bytes it needs.
    """
    free = available_memory(device)
    if free is None:
        return
    try:
        count = parameter_count(cfg, spec, num_outputs, task=task)
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return  # a builder that cannot run on the meta device: the real build reports its own errors
    needed = training_bytes(count, optimizer)
    if needed <= free:
        return
    fields = _SIZE_FIELDS.get(cfg.name, "model.embed, model.layers and model.hidden")
    raise ConfigError(
        f"{fields}: the {cfg.name} model would have {count:,} parameters, {_bytes(count * 4)} of weights and "
        f"about {_bytes(needed)} to train with {optimizer} (weights, gradients, optimizer state), but "
        f"{device.type} has {_bytes(free)} free; make it smaller"
    )


def _bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if count < 1000 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} PB"
