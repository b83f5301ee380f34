"""The epoch of a study cell in numbers: optimizer steps, samples and tokens per pass over the training split.

A cell's budget, warmup and evaluation interval are converted to optimizer steps. For fixed-size samples the
count is the formula ``ceil(N / B)`` (``floor`` with ``drop_last``). Variable-length samples are planned:
with a token budget a batch holds as many samples as fit when padded, and length bucketing decides which
samples share a batch, so the count depends on the lengths, the seed and the epoch; a language model's
budget is ``budget // context`` windows of a text whose window count depends on the context. For text the
steps therefore come from the cell's real training batches (epoch 0 of its seed), built exactly as the run
builds them; later epochs of a token budget may differ by a batch or so.

Tokens are **valid** (unpadded) tokens, as in the ``tokens`` column of ``metrics.csv``: what the model read
and the loss was computed on. Padded tokens are kept too, since a token budget bounds those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from batchlab.config import samples_of
from batchlab.data.batching import batch_count
from batchlab.data.prepared import SequenceSplit, TokenStream
from batchlab.experiment.components import effective_batch_size, train_batches

if TYPE_CHECKING:
    from batchlab.config import Config
    from batchlab.data.pipeline import PreparedData

__all__ = ["EpochPlan", "epoch_plan", "has_tokens"]


@dataclass(frozen=True)
class EpochPlan:
    """One training epoch of a run.

    Attributes:
        steps: optimizer steps in the epoch.
        samples: samples served in the epoch (windows for a language model).
        tokens: valid tokens served in the epoch; ``None`` when the data has no tokens.
        padded_tokens: tokens including padding (``samples x longest`` summed over batches); ``None``
            without tokens.
    """

    steps: int
    samples: int
    tokens: int | None = None
    padded_tokens: int | None = None

    @property
    def samples_per_step(self) -> float:
        """Samples per optimizer step, the mean over the epoch."""
        return self.samples / max(1, self.steps)

    @property
    def tokens_per_step(self) -> float | None:
        """Valid tokens per optimizer step, the mean over the epoch (``None`` without tokens)."""
        return None if self.tokens is None else self.tokens / max(1, self.steps)

    @property
    def padded_per_sample(self) -> float | None:
        """Padded tokens per sample: how many budget tokens one sample costs in these batches."""
        return None if self.padded_tokens is None else self.padded_tokens / max(1, self.samples)


def has_tokens(data: PreparedData) -> bool:
    """Whether the training split is text (token ids), so that batches can be counted in tokens."""
    return data.input_spec.kind == "tokens" and isinstance(data.train, (SequenceSplit, TokenStream))


def epoch_plan(config: Config, data: PreparedData) -> EpochPlan:
    """Steps, samples and tokens of epoch 0 of a run of ``config`` on ``data``.

    Args:
        config: the run's config (batch size, accumulation, ``drop_last``, bucketing, seed).
        data: its prepared data.

    Returns:
        Text and other variable-length samples: counted on the real training batches. Fixed-size
        samples: ``ceil(N / B)`` steps of the effective batch ``B``.
    """
    split = data.train
    if isinstance(split, (SequenceSplit, TokenStream)):
        batches: Any = train_batches(
            config, data, torch.device("cpu"), min_batch=2 if config.model.norm in ("batch", "ghost") else 1
        )
        plan = batches.plan(0)
        samples = sum(len(rows) for rows in plan)
        if not has_tokens(data):
            return EpochPlan(len(plan), samples)
        if isinstance(split, TokenStream):
            tokens = samples * int(batches.context)  # windows are never padded
            return EpochPlan(len(plan), samples, tokens, tokens)
        valid, padded = batches.padding(0)
        return EpochPlan(len(plan), samples, int(valid), int(padded))
    n = len(split)
    size = min(samples_of(effective_batch_size(config), n), n)
    steps = batch_count(n, size, config.train.drop_last)
    return EpochPlan(steps, steps * size if config.train.drop_last else n)
