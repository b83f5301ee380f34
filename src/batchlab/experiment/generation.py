"""Sample text from a trained language model run: ``batchlab generate RUN --prompt TEXT``.

The prompt is encoded with the run's saved tokenizer, the model extends it one token at a time
(:func:`batchlab.models.generation.generate`: temperature, top-k, a window of the run's context), and
the new tokens are decoded and appended to the prompt, which is returned exactly as given. The same
seed gives the same text.

Example:
    >>> text = generate_text("runs/shakespeare", prompt="ROMEO:", tokens=100, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch

from batchlab.errors import ConfigError
from batchlab.experiment.inference import load_run
from batchlab.models.generation import generate

__all__ = ["generate_text"]


def generate_text(
    run_dir: str | Path,
    *,
    prompt: str,
    tokens: int = 300,
    temperature: float = 0.8,
    top_k: int | None = 40,
    seed: int = 0,
    model: torch.nn.Module | None = None,
) -> str:
    """The prompt, exactly as given, followed by ``tokens`` sampled tokens decoded to text.

    Special tokens the model may sample (padding, end of text) decode to nothing, so the text can hold
    fewer than ``tokens`` new tokens; a word tokenizer's tokens are joined with single spaces.

    Args:
        run_dir: a run trained with ``data.task: language_model``.
        prompt: the text to continue; every character (or word) must be in the run's vocabulary.
        tokens: how many tokens to add.
        temperature: 0 picks the most likely token each time; higher values give more varied text.
        top_k: sample among the ``top_k`` most likely tokens (``None``: all).
        seed: seed of the sampling.
        model: for a run trained on a custom module, a new instance of it.

    Raises:
        ConfigError: the run is not a language model, or an argument is out of range (one line each).
    """
    if tokens < 1:
        raise ConfigError(f"--tokens: expected a positive number of tokens, got {tokens}")
    if temperature < 0:
        raise ConfigError(f"--temperature: expected 0 (greedy) or a positive temperature, got {temperature:g}")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"--top-k: expected a positive count, got {top_k}")
    trained = load_run(run_dir, model)
    if not trained.objective.is_language_model:
        raise ConfigError(
            f"generate: {str(trained.run.path)!r} is a {trained.info['task']} run; generate samples text from a "
            "language model (data.task: language_model)"
        )
    tokenizer = trained.preprocessor.tokenizer_
    unknown = tokenizer.unknown_characters(prompt)
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:8]) + (", ..." if len(unknown) > 8 else "")
        raise ConfigError(f"--prompt: {shown} not in the run's vocabulary of {tokenizer.vocab_size} tokens")
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ConfigError("--prompt: give at least one character to start from")
    generator = torch.Generator(device=trained.device).manual_seed(seed)
    context = int(trained.spec.max_length or trained.config.data.context)
    out = generate(
        trained.model,
        torch.tensor(ids, dtype=torch.long, device=trained.device),
        tokens,
        temperature=temperature,
        top_k=top_k,
        generator=generator,
        context=context,
    )
    # The prompt is given back as typed: decoding it would lose what the tokenizer normalizes (a word
    # tokenizer's spacing, lowercasing). Only the new tokens are decoded; word tokens join with spaces.
    continuation = str(tokenizer.decode(out[len(ids) :].tolist()))
    space = tokenizer.kind == "word" and continuation and not prompt[-1].isspace()
    return prompt + (" " if space else "") + continuation
