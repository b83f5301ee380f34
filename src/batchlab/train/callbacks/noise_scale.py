"""Estimate the gradient noise scale ``B_simple`` during training, without changing the training update.

Every ``every_steps`` optimizer steps, at the current weights, the callback draws ``micro_batches`` disjoint
micro-batches of ``micro_batch_size`` training samples and computes each one's gradient with
``torch.autograd.grad``: the training gradients in ``.grad`` are never touched. The micro-batch gradients
give ``|G_small|^2`` (the mean of their squared norms, ``B_small = micro_batch_size``) and their mean gives
``|G_big|^2`` (``B_big = micro_batches * micro_batch_size``), as accumulation of small batches would. The
unbiased estimates of ``|G|^2`` and ``tr(Sigma)`` (see :mod:`batchlab.train.noise_estimate`) are averaged
with an exponential moving average and their ratio is logged as ``noise_scale`` in every metrics row.

The measurement runs in training mode (dropout, batch statistics) like the real steps, but it is invisible to
training: the random number generators are forked and module buffers (batch-norm running statistics) are
restored afterwards, so a run with the callback follows the same trajectory as one without. Its cost is
``micro_batches`` extra forward and backward passes every ``every_steps`` steps.

**Text: the noise scale in tokens.** ``B_simple`` counts samples, because the estimator's ``B`` is the
number of independent draws whose gradients are averaged: a text for a classifier, a window for a
language model. On text each measurement also counts the valid (unpadded) tokens of its micro-batches,
and the callback logs ``noise_scale_tokens = noise_scale x tokens_per_sample``, where
``tokens_per_sample`` is valid tokens over samples across all measurements so far. The micro-batches are
uniform draws from the training split, so this is an unbiased estimate of the split's mean length, and
the product is the expected number of valid tokens in ``B_simple`` random samples. That is the unit in
which a token-budget study counts its batches (valid tokens per optimizer step: over an epoch every sample
is served once, so tokens per step = samples per step x mean length, however the samples are grouped).

For a language model this is exact: every window has ``context`` tokens and the loss is a mean over
tokens. For classification it holds on average, with two caveats that the report states. Token batches
hold many short texts or few long ones; a step's noise goes as ``1 / samples``, and the mean of
``1 / samples`` over steps exceeds ``1 / mean samples``, so token batches are somewhat noisier than their
mean size suggests, and the knee in tokens tends to sit at or above ``B_simple x tokens_per_sample``. And
the loss is a mean over texts, so a long text weighs as much as a short one: the conversion says how many
tokens ``B_simple`` texts bring, not that tokens are independent draws.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from batchlab.train.callbacks.base import Callback
from batchlab.train.noise_estimate import NoiseEMA, unbiased_estimates

if TYPE_CHECKING:
    from batchlab.data.batch import Batch
    from batchlab.data.sharding import PlannedBatches
    from batchlab.train.state import LoopState

__all__ = ["GradientNoiseScale"]

log = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class GradientNoiseScale(Callback):
    """Logs ``noise_scale`` (``B_simple``, in samples) in the metrics rows, and ``noise_scale_tokens`` on text.

    Args:
        batches: the training mini-batches (their tensors and augmentation are used; their order is not).
        loss: mean loss of a batch, ``loss(outputs (b, K), targets (b,)) -> 0-d tensor`` (e.g. ``Objective.loss``).
        every_steps: optimizer steps between measurements.
        micro_batches: micro-batches per measurement, at least 2 (``B_big = micro_batches * B_small``).
        micro_batch_size: samples per micro-batch, ``B_small``; default the training batch size, capped so
            that all micro-batches fit in the training split without overlapping.
        ema: decay of the moving averages per measurement, in [0, 1).
        seed: seed of the samples drawn for measurements.

    Attributes:
        measurements: one dict per measurement: ``step``, ``samples``, ``grad_sq``, ``trace`` (this
            measurement's estimates), ``noise_scale`` (the averaged ``B_simple`` after it), and on text
            ``tokens`` (valid tokens in its ``B_big`` samples) and ``noise_scale_tokens``.

    Example:
        >>> GradientNoiseScale(batches, objective.loss, every_steps=10, micro_batches=4)  # doctest: +SKIP
    """

    def __init__(
        self,
        batches: PlannedBatches,
        loss: LossFn,
        *,
        every_steps: int = 10,
        micro_batches: int = 4,
        micro_batch_size: int | None = None,
        ema: float = 0.9,
        seed: int = 0,
    ) -> None:
        if every_steps < 1:
            raise ValueError(f"every_steps must be positive, got {every_steps}")
        if micro_batches < 2:
            raise ValueError(f"micro_batches must be at least 2, got {micro_batches}")
        self.batches = batches
        self.loss = loss
        self.every_steps = every_steps
        self.micro_batches = micro_batches
        samples = batches.num_samples
        wanted = micro_batch_size if micro_batch_size is not None else batches.batch_size
        self.micro_batch_size = max(0, min(wanted, samples // micro_batches))
        self.seed = seed
        self.ema = NoiseEMA(ema)
        self.measurements: list[dict[str, float]] = []
        if self.micro_batch_size < 1:
            log.warning(
                "noise scale: %d training samples cannot fill %d micro-batches; not measuring",
                samples,
                micro_batches,
            )

    @property
    def b_small(self) -> int:
        """Samples per micro-batch."""
        return self.micro_batch_size

    @property
    def b_big(self) -> int:
        """Samples behind the mean gradient of one measurement."""
        return self.micro_batch_size * self.micro_batches

    @property
    def tokens_per_sample(self) -> float | None:
        """Valid tokens per sample over every measured micro-batch so far (``None`` without tokens)."""
        measured = [m for m in self.measurements if m.get("tokens") is not None]
        if not measured:
            return None
        return sum(m["tokens"] for m in measured) / (len(measured) * self.b_big)

    @property
    def noise_scale_tokens(self) -> float | None:
        """The averaged ``B_simple`` in valid tokens: ``noise_scale x tokens_per_sample`` (text only)."""
        per_sample = self.tokens_per_sample
        if per_sample is None or not self.ema.count:
            return None
        return self.ema.noise_scale * per_sample

    def on_step_end(self, state: LoopState) -> None:
        if self.micro_batch_size >= 1 and state.step % self.every_steps == 0:
            self.measure(state)

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        if self.ema.count:
            logs["noise_scale"] = self.ema.noise_scale
            in_tokens = self.noise_scale_tokens
            if in_tokens is not None:
                logs["noise_scale_tokens"] = in_tokens

    def measure(self, state: LoopState) -> dict[str, float]:
        """Take one measurement at the current weights and fold it into the averages."""
        g_small_sq, g_big_sq, tokens = self._squared_norms(state.epoch)
        population = self.batches.num_samples
        estimate = unbiased_estimates(
            g_small_sq=g_small_sq,
            g_big_sq=g_big_sq,
            b_small=self.b_small,
            b_big=self.b_big,
            population=population if self.b_big < population else None,
        )
        self.ema.update(estimate)
        record = {
            "step": float(state.step),
            "samples": float(state.samples),
            "grad_sq": estimate.grad_sq,
            "trace": estimate.trace,
            "noise_scale": self.ema.noise_scale,
        }
        if tokens is not None:
            record["tokens"] = float(tokens)
        self.measurements.append(record)
        in_tokens = self.noise_scale_tokens
        if in_tokens is not None:
            record["noise_scale_tokens"] = in_tokens
        return record

    def _squared_norms(self, epoch: int) -> tuple[float, float, int | None]:
        """``mean_i |g_i|^2`` over the micro-batch gradients ``g_i``, ``|mean_i g_i|^2``, and the valid tokens
        of the micro-batches (``None`` for fixed-size samples)."""
        model = self.context.model
        params = [p for p in model.parameters() if p.requires_grad]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + len(self.measurements))
        pool = torch.cat(self.batches.plan(epoch))  # the epoch's samples (row indices, or window starts)
        order = pool[torch.randperm(len(pool), generator=generator)[: self.b_big]]
        buffers = [b.detach().clone() for b in model.buffers()]
        device = params[0].device if params else torch.device("cpu")
        devices = [device.index or 0] if device.type == "cuda" else []
        small_sq = torch.zeros((), dtype=torch.float64, device=device)
        total: list[torch.Tensor | None] = [None] * len(params)
        tokens: int | None = None
        with torch.random.fork_rng(devices=devices):
            for i in range(self.micro_batches):
                rows = order[i * self.b_small : (i + 1) * self.b_small]
                # Negative indices: augmentation seeds that no training batch uses.
                batch = self.batches.gather(rows, epoch, -(i + 1 + self.micro_batches * len(self.measurements)))
                if _is_text(batch):
                    tokens = (tokens or 0) + batch.tokens
                loss = self.loss(model(*batch.inputs), batch.y)
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                for j, grad in enumerate(grads):
                    if grad is None:
                        continue
                    small_sq += grad.double().pow(2).sum()
                    current = total[j]
                    total[j] = grad.detach().clone() if current is None else current.add_(grad)
        with torch.no_grad():
            for saved, buffer in zip(buffers, model.buffers(), strict=True):
                buffer.copy_(saved)
        big_sq = torch.zeros((), dtype=torch.float64, device=small_sq.device)
        for summed in total:
            if summed is not None:
                big_sq += summed.double().pow(2).sum()
        g_small_sq = float(small_sq) / self.micro_batches
        g_big_sq = float(big_sq) / self.micro_batches**2
        if not (math.isfinite(g_small_sq) and math.isfinite(g_big_sq)):
            return math.nan, math.nan, tokens
        return g_small_sq, g_big_sq, tokens

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema.state_dict(), "measurements": self.measurements}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema.load_state_dict(state["ema"])
        self.measurements = [dict(m) for m in state.get("measurements", [])]


def _is_text(batch: Batch) -> bool:
    """Token ids (not audio or table features): padded texts with lengths, or language-model windows."""
    return not batch.x.is_floating_point() and (batch.lengths is not None or batch.y.dim() > 1)
