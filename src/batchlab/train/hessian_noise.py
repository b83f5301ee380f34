"""Measure the Hessian-aware noise scale ``B_noise`` at given weights with ``torch.func``.

At the model's current weights, on a sample of ``n`` training examples given as mini-batches, this
module computes

1. per-example gradients ``g_i`` with ``vmap(grad(loss of one example))`` over ``functional_call``, one
   mini-batch (a chunk) at a time, summing them into ``k`` groups of ``s = n / k`` consecutive examples
   (only the ``k`` group sums and the per-example squared norms are kept: memory ``k x parameters``);
2. Hessian-vector products ``H m_c`` of each group mean ``m_c``, where ``H`` is the Hessian of the mean
   loss over the same ``n`` examples, by reverse-over-reverse differentiation (``vjp`` of ``grad``: the
   Hessian is never formed), chunk by chunk;
3. the ``(k, k)`` matrices ``m_c . m_d`` and ``m_c^T H m_d``, from which
   :mod:`batchlab.train.hessian_noise_estimate` gives ``B_simple``, ``B_noise``, ``eps_max``, the batch at
   the trained rate, and bootstrap intervals.

The cost is ``n`` per-example gradients plus ``k`` Hessian-vector products over ``n`` examples (about
``2 k`` forward-and-backward passes over the sample): ``k = n`` is the exact per-example estimator,
smaller ``k`` trades variance of ``tr(H Sigma)`` for time.

**Mode.** The measurement runs in eval mode: dropout off and batch normalization with its running
statistics. In train mode a batch-norm layer couples the examples of a batch, so an example's gradient
is not defined on its own; eval mode gives the gradients of the function the model computes at test
time, which for the models here differs from training only by dropout and batch statistics. The mode is
restored afterwards and nothing is written to the model (no ``.grad``, no buffers).

**Inputs.** Each chunk is a :class:`~batchlab.data.batch.Batch`; the model is called as in training,
``model(*batch.inputs)`` (``(x,)`` or ``(x, lengths)`` for padded text), one example at a time under
``vmap``. Models whose forward cannot be vectorized (data-dependent Python control flow, packed
sequences) fall back to one ``autograd.grad`` call per example, with the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch.func import functional_call, grad, vjp, vmap

from batchlab.train.hessian_noise_estimate import bootstrap_intervals, hessian_noise_from_moments

if TYPE_CHECKING:
    from batchlab.data.batch import Batch

__all__ = ["HessianNoiseMoments", "hessian_noise_moments", "measure_hessian_noise"]

log = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Params = dict[str, torch.Tensor]

#: Most Hessian-vector products computed together under ``vmap``.
HVP_BLOCK = 32
#: Padded time steps (samples, for fixed-size inputs) times vectors per block: bounds the memory of a block.
HVP_BLOCK_STEPS = 65_536


@dataclass(frozen=True)
class HessianNoiseMoments:
    """The sample moments behind every estimate (see :mod:`batchlab.train.hessian_noise_estimate`).

    Attributes:
        gram: ``(k, k)`` float64 dot products of the group mean gradients.
        quad: ``(k, k)`` float64 ``m_c^T H m_d`` (symmetrized).
        sq_norms: ``(k,)`` float64 sums of per-example squared gradient norms per group.
        group_size: examples per group.
        tokens: valid tokens in the sample (text), else ``None``.
    """

    gram: torch.Tensor
    quad: torch.Tensor
    sq_norms: torch.Tensor
    group_size: int
    tokens: int | None = field(default=None)

    @property
    def samples(self) -> int:
        """Examples in the sample, ``n = k s``."""
        return int(self.gram.shape[0]) * self.group_size


def hessian_noise_moments(
    model: torch.nn.Module, loss: LossFn, chunks: Sequence[Batch], *, groups: int
) -> HessianNoiseMoments:
    """Per-example gradients, group means and their Hessian quadratic forms at the model's weights.

    Args:
        model: the model (its trainable parameters are differentiated; buffers are read only).
        loss: mean loss of a batch, ``loss(outputs, targets) -> 0-d tensor``.
        chunks: the ``n`` sampled examples as mini-batches, in sample order (groups are consecutive).
        groups: ``k``, at least 2, dividing ``n``.

    Returns:
        The moments; see :class:`HessianNoiseMoments`.

    Raises:
        ValueError: ``groups`` below 2 or not dividing the number of examples.
    """
    n = sum(len(chunk) for chunk in chunks)
    if groups < 2 or n % groups:
        raise ValueError(f"groups must be at least 2 and divide the {n} examples, got {groups}")
    size = n // groups
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    frozen = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
    buffers = {**{name: b.detach() for name, b in model.named_buffers()}, **frozen}
    numel = sum(p.numel() for p in params.values())
    first = next(iter(params.values()))
    device, dtype = first.device, first.dtype
    was_training = model.training
    model.eval()
    try:
        sums = torch.zeros(groups, numel, dtype=dtype, device=device)
        sq_norms = torch.zeros(groups, dtype=torch.float64, device=device)
        tokens: int | None = None
        start = 0
        for chunk in chunks:
            flat = _flat(_per_example_grads(model, loss, params, buffers, chunk), names)  # (b, P)
            owner = torch.arange(start, start + len(chunk), device=device) // size
            sums.index_add_(0, owner, flat)
            sq_norms.index_add_(0, owner, flat.double().pow(2).sum(1))
            if _has_tokens(chunk):
                tokens = (tokens or 0) + chunk.tokens
            start += len(chunk)
        means = sums / size  # (k, P)
        products = torch.zeros_like(means)  # H m_c, (k, P)
        for chunk in chunks:
            products += len(chunk) / n * _hvps(model, loss, params, buffers, chunk, means)
    finally:
        model.train(was_training)
    means64, products64 = means.double(), products.double()
    quad = means64 @ products64.T
    return HessianNoiseMoments(
        gram=means64 @ means64.T,
        quad=(quad + quad.T) / 2,
        sq_norms=sq_norms,
        group_size=size,
        tokens=tokens,
    )


def measure_hessian_noise(
    model: torch.nn.Module,
    loss: LossFn,
    chunks: Sequence[Batch],
    *,
    groups: int,
    population: int | None = None,
    lr: float | None = None,
    resamples: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> dict[str, Any]:
    """``B_simple``, ``B_noise`` and the batch at the trained rate, with bootstrap intervals, at the current weights.

    Args:
        model, loss, chunks, groups: as for :func:`hessian_noise_moments`.
        population: training samples the examples were drawn from without replacement (``None``:
            independent draws).
        lr: the step trained with (``lr / (1 - momentum)`` for SGD with momentum), for ``b_temperature``.
        resamples: bootstrap resamples over the groups.
        level: coverage of the intervals.
        seed: seed of the bootstrap.

    Returns:
        A JSON-ready dict: ``samples``, ``groups``, the estimates of
        :func:`~batchlab.train.hessian_noise_estimate.hessian_noise_from_moments`, ``lr``, ``level``,
        ``intervals`` (``{name: [low, high]}``) and, on text, ``tokens`` (valid tokens in the sample).

    Example:
        >>> measure_hessian_noise(model, objective.loss, batches, groups=32, lr=0.5)  # doctest: +SKIP
    """
    moments = hessian_noise_moments(model, loss, chunks, groups=groups)
    common: dict[str, Any] = {"group_size": moments.group_size, "population": population, "lr": lr}
    estimate = hessian_noise_from_moments(moments.gram, moments.quad, moments.sq_norms, **common)
    intervals = bootstrap_intervals(
        moments.gram,
        moments.quad,
        moments.sq_norms,
        **common,
        resamples=resamples,
        level=level,
        generator=torch.Generator().manual_seed(seed),
    )
    result: dict[str, Any] = {
        "samples": moments.samples,
        "groups": groups,
        **estimate,
        "lr": lr,
        "level": level,
        "intervals": {name: list(bounds) for name, bounds in intervals.items()},
    }
    if moments.tokens is not None:
        result["tokens"] = moments.tokens
    return result


def _has_tokens(batch: Batch) -> bool:
    """Token ids (padded texts with lengths, or language-model windows), not features."""
    return not batch.x.is_floating_point() and (batch.lengths is not None or batch.y.dim() > 1)


def _per_example_grads(model: torch.nn.Module, loss: LossFn, params: Params, buffers: Params, batch: Batch) -> Params:
    """``{name: (b, *shape)}`` gradients of each example's own loss."""

    def one(p: Params, x: torch.Tensor, y: torch.Tensor, *lengths: torch.Tensor) -> torch.Tensor:
        inputs = (x.unsqueeze(0), *(length.unsqueeze(0) for length in lengths))
        return loss(functional_call(model, (p, buffers), inputs), y.unsqueeze(0))

    extra = () if batch.lengths is None else (batch.lengths,)
    with _math_attention():
        try:
            dims = (None, 0, 0, *(0 for _ in extra))
            return vmap(grad(one), in_dims=dims)(params, batch.x, batch.y, *extra)  # type: ignore[no-any-return]
        except (RuntimeError, NotImplementedError) as exc:
            # Data-dependent control flow (e.g. packed sequences) cannot be vectorized: one example at a time.
            log.debug("per-example gradients without vmap (%s)", exc)
        rows = [grad(one)(params, batch.x[i], batch.y[i], *(e[i] for e in extra)) for i in range(len(batch))]
    return {name: torch.stack([row[name] for row in rows]) for name in params}


def _hvps(
    model: torch.nn.Module,
    loss: LossFn,
    params: Params,
    buffers: Params,
    batch: Batch,
    vectors: torch.Tensor,
) -> torch.Tensor:
    """``(k, P)``: ``H_batch v`` for each row ``v`` of ``vectors`` ``(k, P)``, ``H_batch`` the Hessian of the
    batch's mean loss; a block of vectors at a time under ``vmap`` (one at a time where it cannot batch).

    The block holds up to :data:`HVP_BLOCK` vectors, fewer for long padded sequences: the second backward
    pass keeps one copy of the chunk's activations per vector, so the block shrinks as the chunk's
    (padded) time steps grow, to about :data:`HVP_BLOCK_STEPS` steps per block.
    """
    block = max(1, min(HVP_BLOCK, HVP_BLOCK_STEPS // max(1, batch.padded_tokens)))

    def batch_loss(p: Params) -> torch.Tensor:
        return loss(functional_call(model, (p, buffers), batch.inputs), batch.y)

    out = torch.empty_like(vectors)
    with _math_attention():
        product = vjp(grad(batch_loss), params)[1]  # the gradient's linearization, reused for every vector

        def one(row: torch.Tensor) -> torch.Tensor:
            return _flat_one(product(_unflat(row, params))[0], list(params))

        for lo in range(0, len(vectors), block):
            rows = vectors[lo : lo + block]
            try:
                out[lo : lo + block] = vmap(one)(rows)
            except (RuntimeError, NotImplementedError) as exc:
                log.debug("Hessian-vector products without vmap (%s)", exc)
                out[lo : lo + block] = torch.stack([one(row) for row in rows])
    return out


def _math_attention() -> Any:
    """Attention through the plain math kernel, the one with a second derivative on every device."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def _flat(grads: Params, names: list[str]) -> torch.Tensor:
    """``(b, P)``: per-example gradients concatenated in parameter order."""
    return torch.cat([grads[name].reshape(grads[name].shape[0], -1) for name in names], dim=1)


def _flat_one(values: Params, names: list[str]) -> torch.Tensor:
    """``(P,)``: one parameter-shaped dict concatenated in parameter order."""
    return torch.cat([values[name].reshape(-1) for name in names])


def _unflat(row: torch.Tensor, like: Params) -> Params:
    """A ``(P,)`` vector cut back into parameter-shaped tensors."""
    out: Params = {}
    start = 0
    for name, p in like.items():
        out[name] = row[start : start + p.numel()].view_as(p)
        start += p.numel()
    return out
