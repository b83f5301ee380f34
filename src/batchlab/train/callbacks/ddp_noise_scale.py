"""The gradient noise scale for free under data parallelism: local vs global gradient norms.

Each worker's gradient is the mean over its ``b`` local samples (``B_small = b``); after DDP's all-reduce
it becomes the mean over the global batch (``B_big = world_size * b``). A DDP communication hook reads
the squared norm of every gradient bucket just before and just after the all-reduce, so no extra forward
or backward pass is needed. The two squared norms give unbiased estimates of ``|G|^2`` and ``tr(Sigma)``
(:mod:`batchlab.train.noise_estimate`), averaged with an exponential moving average; their ratio
``B_simple`` is logged as ``noise_scale`` (in samples) in every metrics row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from batchlab.train.callbacks.base import Callback
from batchlab.train.noise_estimate import NoiseEMA, unbiased_estimates

if TYPE_CHECKING:
    from batchlab.train.state import LoopState

__all__ = ["DDPNoiseScale"]


class DDPNoiseScale(Callback):
    """Measures ``B_simple`` from the local and the all-reduced gradient of each step.

    Args:
        local_batch: samples per worker per full batch (``B_small``).
        world_size: number of workers (``B_big = world_size * local_batch``).
        ema: decay of the moving averages per measurement, in [0, 1).

    Batches of another size (an uneven last batch) are not measured. Does nothing when the model is
    not wrapped in ``DistributedDataParallel``.
    """

    def __init__(self, local_batch: int, world_size: int, ema: float = 0.9) -> None:
        self.local_batch = local_batch
        self.world_size = world_size
        self.ema = NoiseEMA(ema)
        self._local_sq = torch.zeros((), dtype=torch.float64)
        self._global_sq = torch.zeros((), dtype=torch.float64)
        self._measure = False

    def on_train_begin(self, state: LoopState) -> None:
        model = self.context.model
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model.register_comm_hook(self, _allreduce_with_norms)

    def on_batch_end(self, state: LoopState, logs: dict[str, Any]) -> None:
        # The hook has summed this backward's bucket norms; keep them only for a full-size local batch.
        if logs["size"] == self.local_batch and self._measure:
            estimate = unbiased_estimates(
                g_small_sq=float(self._local_sq),
                g_big_sq=float(self._global_sq),
                b_small=self.local_batch,
                b_big=self.local_batch * self.world_size,
            )
            self.ema.update(estimate)
        self._local_sq.zero_()
        self._global_sq.zero_()
        self._measure = False

    def on_evaluate(self, state: LoopState, logs: dict[str, Any]) -> None:
        if self.ema.count:
            logs["noise_scale"] = self.ema.noise_scale

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema.load_state_dict(state["ema"])


# DDP checks a hook's annotations against the real classes, and this module's annotations are strings
# (``from __future__ import annotations``): the hook carries none.
def _allreduce_with_norms(state, bucket):  # type: ignore[no-untyped-def]
    """DDP's averaging all-reduce, noting the bucket's squared norm before and after.

    ``bucket`` is a ``torch.distributed.GradBucket`` holding a flat slice of this worker's gradients.
    """
    buffer = bucket.buffer()
    state._local_sq += buffer.detach().double().pow(2).sum().cpu()
    state._measure = True
    work = dist.all_reduce(buffer, async_op=True)
    assert work is not None  # async_op=True always returns a work handle

    def averaged(future: torch.futures.Future[list[torch.Tensor]]) -> torch.Tensor:
        mean = future.value()[0].div_(state.world_size)
        state._global_sq += mean.detach().double().pow(2).sum().cpu()
        return mean

    future: torch.futures.Future[torch.Tensor] = work.get_future().then(averaged)
    return future
