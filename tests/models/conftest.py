"""Helpers for the sequence-model tests: padded batches, the padding-invariance check, tiny tasks."""

from __future__ import annotations

import torch
from torch import nn

VOCAB = 12
FEATURES = 6


def pad(samples: list[torch.Tensor], time: int, *, garbage: bool, vocab: int = VOCAB) -> torch.Tensor:
    """Stack ``samples`` (``(t,)`` ids or ``(t, features)`` frames) padded to ``time`` steps.

    Padding is the contract's (id 0, zero frames), or with ``garbage`` random ids / frames, which a
    model that masks correctly must ignore just the same.
    """
    rows = []
    for sample in samples:
        extra = time - sample.shape[0]
        if sample.dtype == torch.long:
            fill = torch.randint(1, vocab, (extra,)) if garbage else torch.zeros(extra, dtype=torch.long)
        else:
            fill = 5 * torch.randn(extra, sample.shape[1]) if garbage else torch.zeros(extra, sample.shape[1])
        rows.append(torch.cat([sample, fill]))
    return torch.stack(rows)


def token_sample(length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.randint(1, VOCAB, (length,), generator=generator)


def frame_sample(length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.randn(length, FEATURES, generator=generator)


@torch.no_grad()
def padding_gap(model: nn.Module, sample: torch.Tensor, others: list[torch.Tensor], *, garbage: bool) -> float:
    """Largest difference between ``sample``'s output alone and inside a longer padded batch.

    The sample alone is run without lengths (no padding) and with its own length; inside the batch
    it sits between a longer and a shorter sequence, padded 3 steps beyond the longest. For language
    models, the per-step outputs of the sample's valid steps are compared.
    """
    model.eval()
    length = sample.shape[0]
    alone = model(sample.unsqueeze(0))
    alone_with_length = model(sample.unsqueeze(0), torch.tensor([length]))
    samples = [others[0], sample, *others[1:]]
    time = max(s.shape[0] for s in samples) + 3
    lengths = torch.tensor([s.shape[0] for s in samples])
    batched = model(pad(samples, time, garbage=garbage), lengths)[1:2]
    if batched.dim() == 3:  # per-step outputs: compare the valid steps only
        batched = batched[:, :length]
    return max(float((alone - batched).abs().max()), float((alone_with_length - batched).abs().max()))


def fit(
    model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None, y: torch.Tensor, steps: int, lr: float
) -> float:
    """Train on one fixed batch with Adam; the final loss (cross-entropy, per step for 3-D outputs)."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        out = model(x) if lengths is None else model(x, lengths)
        loss = nn.functional.cross_entropy(out.flatten(0, -2), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def contains_five_task(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token sequences of 3 to 12 ids; the label is whether id 5 occurs. Returns ``x, lengths, y``."""
    g = torch.Generator().manual_seed(seed)
    samples, labels = [], []
    for i in range(n):
        length = int(torch.randint(3, 13, (1,), generator=g))
        ids = torch.randint(1, VOCAB - 1, (length,), generator=g)
        ids[ids >= 5] += 1  # ids 1..11 without 5
        if i % 2:
            ids[int(torch.randint(0, length, (1,), generator=g))] = 5
        samples.append(ids)
        labels.append(i % 2)
    lengths = torch.tensor([s.shape[0] for s in samples])
    return pad(samples, int(lengths.max()), garbage=False), lengths, torch.tensor(labels)


def loud_feature_task(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frame sequences of 4 to 16 frames; class ``c`` (of 3) raises feature ``c``. Returns ``x, lengths, y``."""
    g = torch.Generator().manual_seed(seed)
    samples, labels = [], []
    for i in range(n):
        length = int(torch.randint(4, 17, (1,), generator=g))
        frames = torch.randn(length, FEATURES, generator=g)
        frames[:, i % 3] += 2.0
        samples.append(frames)
        labels.append(i % 3)
    lengths = torch.tensor([s.shape[0] for s in samples])
    return pad(samples, int(lengths.max()), garbage=False), lengths, torch.tensor(labels)
