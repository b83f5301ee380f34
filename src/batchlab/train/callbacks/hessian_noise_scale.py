"""Measure the Hessian-aware noise scale ``B_noise`` at chosen evaluations, beside ``B_simple``.

A companion of :class:`~batchlab.train.callbacks.noise_scale.GradientNoiseScale` (it uses that callback's
training batches and loss, so the run must have it): at the first evaluation that meets ``reached`` (the
step a study compares with the knee), every ``every_steps`` optimizer steps (at the first evaluation past
each multiple) and, if nothing was measured, at the end of training, it draws ``samples`` training
examples and calls :func:`~batchlab.train.hessian_noise.measure_hessian_noise`: ``B_simple``, ``B_noise``,
``eps_max``, the batch at which the trained rate is the optimal step (``b_temperature``), and bootstrap
intervals, all from one sample at the current weights.

The rate passed on is the step of plain SGD that the optimizer takes: ``lr / (1 - momentum)`` for SGD with
momentum, ``lr`` otherwise (for Adam-like optimizers the batch at the trained rate is only indicative; see
:mod:`batchlab.train.hessian_noise_estimate`).

Measurements happen at evaluations, so a study's clock counts them as evaluation time, not training time.
Training is not changed: the random number generators are forked, the sample comes from a generator of
its own, and the model is measured in eval mode without writing to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from batchlab.train.callbacks.base import Callback
from batchlab.train.callbacks.noise_scale import GradientNoiseScale
from batchlab.train.hessian_noise import measure_hessian_noise

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["HessianNoiseScale", "sgd_step_rate"]

log = logging.getLogger(__name__)

#: Augmentation seeds of the measured chunks: far below those of the B_simple measurements.
_SEED_BASE = -(10**9)


def sgd_step_rate(optimizer: torch.optim.Optimizer) -> float:
    """The rate of the plain-SGD step the optimizer's first group takes: ``lr / (1 - momentum)`` for SGD with
    momentum (its long-run step per unit gradient), else ``lr``."""
    group = optimizer.param_groups[0]
    lr = float(group["lr"])
    momentum = float(group.get("momentum", 0.0) or 0.0) if isinstance(optimizer, torch.optim.SGD) else 0.0
    return lr / (1.0 - momentum) if momentum < 1.0 else lr


class HessianNoiseScale(Callback):
    """Records ``B_simple``, ``B_noise`` and the batch at the trained rate, with intervals, in ``measurements``.

    Args:
        samples: training examples per measurement ``n`` (capped at the training split, rounded down to a
            multiple of ``groups``).
        groups: groups ``k`` of the sample (``k`` Hessian-vector products per measurement; ``k = samples`` is
            the exact per-example estimator).
        reached: ``reached(logs) -> bool`` on each evaluation's logs; the first evaluation for which it is
            true is measured (``None``: no target).
        every_steps: also measure at the first evaluation at or past every multiple of this many optimizer
            steps (``None``: not periodically).
        chunk: examples per forward pass.
        resamples: bootstrap resamples for the intervals.
        seed: seed of the samples and the bootstrap.

    Attributes:
        measurements: one dict per measurement: ``step``, ``samples_seen`` (training samples so far),
            ``epoch``, ``at_target``, ``seconds`` (cost of the measurement), ``optimizer``, ``lr`` (the
            step rate used) and the result of :func:`~batchlab.train.hessian_noise.measure_hessian_noise`.
    """

    def __init__(
        self,
        *,
        samples: int = 512,
        groups: int = 64,
        reached: Callable[[dict[str, Any]], bool] | None = None,
        every_steps: int | None = None,
        chunk: int = 64,
        resamples: int = 200,
        seed: int = 0,
    ) -> None:
        if groups < 2 or samples < groups:
            raise ValueError(f"need groups >= 2 and samples >= groups, got {samples} samples in {groups} groups")
        if every_steps is not None and every_steps < 1:
            raise ValueError(f"every_steps must be positive, got {every_steps}")
        self.samples = samples
        self.groups = groups
        self.reached = reached
        self.every_steps = every_steps
        self.chunk = chunk
        self.resamples = resamples
        self.seed = seed
        self.measurements: list[dict[str, Any]] = []
        self._target_done = False
        self._next_periodic = every_steps

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        at_target = not self._target_done and self.reached is not None and self.reached(logs)
        periodic = self._next_periodic is not None and state.step >= self._next_periodic
        if at_target:
            self._target_done = True
        if periodic and self.every_steps is not None:
            self._next_periodic = (state.step // self.every_steps + 1) * self.every_steps
        if at_target or periodic:
            self.measure(state, at_target=at_target)

    def on_train_end(self, state: LoopState) -> None:
        if not self.measurements and state.step > 0:
            self.measure(state, at_target=False)

    def measure(self, state: LoopState, *, at_target: bool = False) -> dict[str, Any] | None:
        """One measurement at the current weights (``None`` when the run has no noise-scale batches)."""
        source = self._source()
        if source is None:
            return None
        batches = source.batches
        population = batches.num_samples
        n = min(self.samples, population) // self.groups * self.groups
        if n < self.groups:
            log.warning("Hessian noise scale: %d training samples cannot fill %d groups", population, self.groups)
            return None
        model = self.context.module
        device = next(model.parameters()).device
        devices = [device.index or 0] if device.type == "cuda" else []
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + 7_919 * (len(self.measurements) + 1))
        started = time.perf_counter()
        with torch.random.fork_rng(devices=devices):
            pool = torch.cat(batches.plan(state.epoch))
            rows = pool[torch.randperm(len(pool), generator=generator)[:n]]
            chunks = [
                batches.gather(rows[lo : lo + self.chunk], state.epoch, _SEED_BASE - len(self.measurements) * n - lo)
                for lo in range(0, n, self.chunk)
            ]
            chunks = [c.to(device) for c in chunks]
            rate = sgd_step_rate(self.context.optimizer)
            result = measure_hessian_noise(
                model,
                source.loss,
                chunks,
                groups=self.groups,
                population=population,
                lr=rate,
                resamples=self.resamples,
                seed=self.seed + len(self.measurements),
            )
        record = {
            "step": state.step,
            "samples_seen": state.samples,
            "epoch": state.epoch,
            "at_target": at_target,
            "seconds": round(time.perf_counter() - started, 3),
            "optimizer": type(self.context.optimizer).__name__.lower(),
            **result,
        }
        self.measurements.append(record)
        log.info(
            "Hessian noise scale at step %d: B_simple %.1f, B_noise %.1f, batch at the trained rate %.1f",
            state.step,
            result["b_simple"],
            result["b_noise"],
            result["b_temperature"],
        )
        return record

    def _source(self) -> GradientNoiseScale | None:
        callbacks = self.context.callbacks
        found = next((c for c in callbacks or () if isinstance(c, GradientNoiseScale)), None)
        if found is None:
            log.warning("Hessian noise scale: the run has no noise-scale batches to sample (train.noise_scale)")
        return found

    def state_dict(self) -> dict[str, Any]:
        return {"measurements": self.measurements, "target_done": self._target_done, "next": self._next_periodic}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.measurements = [dict(m) for m in state.get("measurements", [])]
        self._target_done = bool(state.get("target_done", False))
        self._next_periodic = state.get("next", self.every_steps)
