"""Sampling text from a language model, one token at a time."""

from __future__ import annotations

import torch
from torch import nn

from batchlab.errors import ConfigError

__all__ = ["generate", "next_token"]


def next_token(
    logits: torch.Tensor, *, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> torch.Tensor:
    """Choose the next token from the logits of one step.

    Args:
        logits: ``(vocab,)`` float logits.
        temperature: divides the logits before the softmax: below 1 sharpens the distribution,
            above 1 flattens it; 0 picks the most likely token (greedy decoding).
        top_k: sample among the ``top_k`` most likely tokens only (ties with the k-th are kept;
            ``None``: all of them).
        generator: the source of randomness for sampling (on the logits' device).

    Returns:
        A 0-dimensional int64 tensor, the chosen id.

    >>> next_token(torch.tensor([0.1, 2.0, -1.0]), temperature=0.0, top_k=None, generator=None).item()
    1
    """
    if temperature == 0:
        return logits.argmax()
    scaled = logits.float() / temperature
    if top_k is not None and top_k < scaled.numel():
        threshold = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < threshold, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[0]


@torch.no_grad()
def generate(
    model: nn.Module,
    prompt: torch.Tensor,
    tokens: int,
    *,
    temperature: float,
    top_k: int | None,
    generator: torch.Generator,
    context: int,
) -> torch.Tensor:
    """Extend ``prompt`` by ``tokens`` ids sampled from a language model, one at a time.

    At each step the model reads the last ``context`` ids (its window) and the next id is drawn
    from the logits of the last step. The model runs in evaluation mode (no dropout) and is put
    back in its previous mode at the end. The same seeded ``generator`` gives the same ids.

    Args:
        model: maps ``(1, time)`` int64 ids to ``(1, time, vocab)`` logits (a GPT or a recurrent
            language model).
        prompt: ``(time,)`` int64 ids to start from (at least one).
        tokens: how many ids to add.
        temperature: 0 for greedy decoding (the most likely id each time), else the softmax
            temperature (1: the model's own distribution).
        top_k: sample among the ``top_k`` most likely ids only (``None``: no limit).
        generator: random source for sampling, on the model's device.
        context: longest window the model accepts, in tokens (e.g. ``data.context``).

    Returns:
        ``(time + tokens,)`` int64: the prompt followed by the generated ids, on the model's device.

    Raises:
        ConfigError: an empty prompt, a negative ``tokens`` or ``temperature``, a ``top_k`` or
            ``context`` below 1.

    Example:
        >>> from batchlab.config import ModelConfig
        >>> from batchlab.inputs import InputSpec
        >>> from batchlab.models import GPT
        >>> lm = GPT(InputSpec("tokens", (), vocab_size=10, max_length=8), ModelConfig(name="gpt", embed=16, heads=2))
        >>> ids = generate(lm, torch.tensor([1, 2]), 5, temperature=1.0, top_k=None,
        ...                generator=torch.Generator().manual_seed(0), context=8)
        >>> ids.shape
        torch.Size([7])
    """
    if prompt.dim() != 1 or prompt.numel() == 0:
        raise ConfigError(f"prompt: expected at least one token id, got a tensor of shape {tuple(prompt.shape)}")
    if tokens < 0:
        raise ConfigError(f"tokens: expected a count >= 0, got {tokens}")
    if temperature < 0:
        raise ConfigError(f"temperature: expected a number >= 0 (0: greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k: expected a positive integer or none, got {top_k}")
    if context < 1:
        raise ConfigError(f"context: expected a positive number of tokens, got {context}")
    device = next(iter(model.parameters())).device
    ids = prompt.to(device=device, dtype=torch.long)
    was_training = model.training
    model.eval()
    try:
        for _ in range(tokens):
            logits = model(ids[-context:].unsqueeze(0))[0, -1]
            ids = torch.cat([ids, next_token(logits, temperature=temperature, top_k=top_k, generator=generator)[None]])
    finally:
        model.train(was_training)
    return ids
