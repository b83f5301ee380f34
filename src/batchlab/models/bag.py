"""Bag of embeddings: the fast text baseline (Joulin et al. 2017, fastText)."""

from __future__ import annotations

import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models.activations import dropout_layer
from batchlab.models.embedding import InputEmbedding
from batchlab.models.masks import valid_mask
from batchlab.models.mlp import dense_head
from batchlab.models.pooling import masked_mean

__all__ = ["BagOfEmbeddings"]


class BagOfEmbeddings(nn.Module):
    """The mean of the token (and token n-gram) embeddings of each text, then a dense head.

    The mean runs over valid tokens only, so padding never changes it. Cheap to train and often
    close to larger models on topic-like tasks: the first thing to try. ``model.pooling`` does not
    apply (the pooling is the mean).

    With ``cfg.ngrams = n > 1`` every run of 2..n consecutive tokens also gets an embedding, from a
    table of ``cfg.ngram_buckets`` rows indexed by a hash of the run (the hashing trick of fastText,
    Joulin et al. 2017): some local order is seen, at the cost of a lookup per n-gram. Over
    characters this is a learned version of a character n-gram bag, the strong classical baseline
    for short noisy texts such as SMS.

    Args:
        spec: a ``tokens`` input with ``vocab_size``.
        num_outputs: output width (classes, or regression targets).
        cfg: the ``model`` section: ``embed``, ``ngrams``, ``ngram_buckets``, ``dropout`` (on the
            mean vector), and the head's ``hidden``, ``activation``, ``norm``.

    Raises:
        ConfigError: the input is not token ids.

    Example:
        >>> model = BagOfEmbeddings(InputSpec("tokens", (), vocab_size=20), 2, ModelConfig(name="bag", hidden=[]))
        >>> model(torch.randint(1, 20, (3, 6)), torch.tensor([6, 1, 4])).shape
        torch.Size([3, 2])
    """

    def __init__(self, spec: InputSpec, num_outputs: int, cfg: ModelConfig) -> None:
        super().__init__()
        if spec.kind != "tokens":
            raise ConfigError(f"model.name: bag averages token embeddings, got {spec.kind} data; use it for text")
        self.embedding = InputEmbedding(spec, cfg.embed)
        self.ngrams = cfg.ngrams
        self.buckets = cfg.ngram_buckets
        self.ngram_embedding = nn.Embedding(cfg.ngram_buckets, cfg.embed) if cfg.ngrams > 1 else None
        if self.ngram_embedding is not None:
            nn.init.normal_(self.ngram_embedding.weight, std=1.0 / cfg.embed)
        self.dropout = dropout_layer(cfg.dropout)
        self.head = dense_head(cfg.embed, num_outputs, cfg)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Classify (or regress) each text.

        Args:
            x: ``(batch, time)`` int64 token ids, padded.
            lengths: ``(batch,)`` int64 valid tokens (each >= 1), or ``None`` (no padding).

        Returns:
            ``(batch, num_outputs)`` logits or values.
        """
        mask = valid_mask(lengths, x.shape[0], x.shape[1], x.device)
        vectors, valid = self.embedding(x), mask
        if self.ngram_embedding is not None:
            grams, gram_mask = ngram_ids(x, mask, self.ngrams, self.buckets)
            vectors = torch.cat([vectors, self.ngram_embedding(grams)], dim=1)
            valid = torch.cat([mask, gram_mask], dim=1)
        return self.head(self.dropout(masked_mean(vectors, valid)))  # type: ignore[no-any-return]


def ngram_ids(x: torch.Tensor, mask: torch.Tensor, n: int, buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hash buckets of every run of 2..n consecutive tokens, and which runs lie inside the valid steps.

    Args:
        x: ``(batch, time)`` int64 token ids.
        mask: ``(batch, time)`` bool, valid steps.
        n: longest run.
        buckets: number of hash buckets.

    Returns:
        ``ids`` ``(batch, runs)`` int64 in ``[0, buckets)`` and ``valid`` ``(batch, runs)`` bool, where
        ``runs`` counts the runs of every length 2..n (a run is valid when all its tokens are).

    >>> ids, valid = ngram_ids(torch.tensor([[5, 6, 5, 6]]), torch.tensor([[True, True, True, False]]), 2, 100)
    >>> valid.tolist(), ids[0, 0] == ids[0, 2], ids[0, 0] == ids[0, 1]
    ([[True, True, False]], tensor(True), tensor(False))
    """
    parts, masks = [], []
    time = x.shape[1]
    for length in range(2, n + 1):
        if length > time:
            break
        runs = time - length + 1
        hashed = x[:, :runs] + 1
        ok = mask[:, :runs]
        for k in range(1, length):
            # A polynomial hash over the run (int64 arithmetic wraps around, deterministically).
            hashed = hashed * 1_000_003 + x[:, k : k + runs] + 1
            ok = ok & mask[:, k : k + runs]
        parts.append(torch.remainder(hashed * length, buckets))
        masks.append(ok)
    if not parts:
        return x.new_zeros((x.shape[0], 0)), mask.new_zeros((x.shape[0], 0))
    return torch.cat(parts, dim=1), torch.cat(masks, dim=1)
