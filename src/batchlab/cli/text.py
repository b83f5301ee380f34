"""Commands for language-model runs: generate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batchlab.cli.app import app, console, user_errors

__all__ = ["generate"]


@app.command()
@user_errors
def generate(
    run_dir: Annotated[Path, typer.Argument(help="A run trained with data.task: language_model.")],
    prompt: Annotated[str, typer.Option("--prompt", help="Text to continue (its characters must be known).")],
    tokens: Annotated[int, typer.Option("--tokens", help="Tokens to add.")] = 300,
    temperature: Annotated[float, typer.Option("--temperature", help="0: greedy; higher: more varied.")] = 0.8,
    top_k: Annotated[int, typer.Option("--top-k", help="Sample among the k most likely tokens (0: all).")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampling (same seed, same text).")] = 0,
) -> None:
    """Sample text from a trained language model, starting from --prompt."""
    from batchlab.experiment.generation import generate_text

    text = generate_text(run_dir, prompt=prompt, tokens=tokens, temperature=temperature, top_k=top_k or None, seed=seed)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
