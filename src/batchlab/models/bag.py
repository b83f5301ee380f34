"""Bag of embeddings: the fast text baseline (Joulin et al. 2017, fastText)."""

from __future__ import annotations

import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models.embedding import InputEmbedding
from batchlab.models.masks import valid_mask
from batchlab.models.mlp import dense_head
from batchlab.models.pooling import masked_mean

__all__ = ["BagOfEmbeddings"]


class BagOfEmbeddings(nn.Module):
    """The mean of the token embeddings of each text, then a dense head; word order is ignored.

    The mean runs over valid tokens only, so padding never changes it. Cheap to train and often
    close to larger models on topic-like tasks: the first thing to try. ``model.pooling`` does not
    apply (the pooling is the mean).

    Args:
        spec: a ``tokens`` input with ``vocab_size``.
        num_outputs: output width (classes, or regression targets).
        cfg: the ``model`` section: ``embed``, ``dropout`` (on the mean vector), and the head's
            ``hidden``, ``activation``, ``batchnorm``.

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
        self.dropout = nn.Dropout(cfg.dropout)
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
        return self.head(self.dropout(masked_mean(self.embedding(x), mask)))  # type: ignore[no-any-return]
