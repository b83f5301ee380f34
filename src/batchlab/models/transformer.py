"""Transformer encoder classifier for token sequences and audio frames."""

from __future__ import annotations

import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError, did_you_mean
from batchlab.inputs import InputSpec
from batchlab.models.activations import dropout_layer
from batchlab.models.attention import TransformerBlock, init_gpt2_weights
from batchlab.models.embedding import InputEmbedding, PositionEmbedding, check_length
from batchlab.models.masks import valid_mask
from batchlab.models.mlp import dense_head
from batchlab.models.pooling import POOLINGS, pool_sequence
from batchlab.models.token_norm import apply_token_norm, token_norm_layer

__all__ = ["TransformerClassifier"]


class TransformerClassifier(nn.Module):
    """A transformer encoder over a padded sequence, pooled into one vector, then a dense head.

    The steps pass through the front-end (token embedding or frame projection) plus position
    embeddings, ``cfg.layers`` pre-norm :class:`~batchlab.models.attention.TransformerBlock`
    layers that attend to valid steps only (a key-padding mask), and a final norm. The blocks' and
    the final norm are ``cfg.block_norm``'s (:mod:`~batchlab.models.token_norm`): layer norm by
    default, group norm, batch norm over the valid tokens of the batch, or none. Pooling
    (``cfg.pooling``) turns the outputs into one vector: ``mean`` or ``max`` over valid steps,
    ``last`` valid step, or ``cls``: the output at a learned class vector the model puts before
    the first step. Padding never changes the output.

    The encoder's weights follow the GPT-2 initialization
    (:func:`~batchlab.models.attention.init_gpt2_weights`); the dense head keeps PyTorch's default.

    Args:
        spec: the input (``tokens`` or ``frames``); ``spec.max_length`` bounds the positions
            (``None`` only with sinusoidal positions: then any length is accepted).
        num_outputs: output width (classes, or regression targets).
        cfg: the ``model`` section: ``embed``, ``layers``, ``heads``, ``ff_mult``, ``dropout``,
            ``positions``, ``pooling``, ``block_norm`` (and ``norm_groups``), and the head's
            ``hidden``, ``activation``, ``norm``.

    Raises:
        ConfigError: a non-sequence input, ``heads`` not dividing ``embed``, an unknown pooling, or
            learned positions without ``spec.max_length``.

    Example:
        >>> spec = InputSpec("tokens", (), vocab_size=50, max_length=16)
        >>> model = TransformerClassifier(spec, 3, ModelConfig(name="transformer", embed=32, hidden=[]))
        >>> model(torch.randint(1, 50, (2, 10)), torch.tensor([10, 4])).shape
        torch.Size([2, 3])
    """

    def __init__(self, spec: InputSpec, num_outputs: int, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.pooling not in POOLINGS:
            raise ConfigError(f"model.pooling: unknown value {cfg.pooling!r}; {did_you_mean(cfg.pooling, POOLINGS)}")
        self.pooling = cfg.pooling
        self.max_length = spec.max_length
        extra = 1 if cfg.pooling == "cls" else 0
        self.embedding = InputEmbedding(spec, cfg.embed)
        self.positions = PositionEmbedding(
            cfg.positions, cfg.embed, None if spec.max_length is None else spec.max_length + extra
        )
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.embed)) if extra else None
        self.dropout = dropout_layer(cfg.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(cfg.embed, cfg.heads, cfg.ff_mult, cfg.dropout, cfg.block_norm, cfg.norm_groups)
            for _ in range(cfg.layers)
        )
        self.norm = token_norm_layer(cfg.block_norm, cfg.embed, cfg.norm_groups)
        init_gpt2_weights(self, cfg.layers)
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)
        self.head = dense_head(cfg.embed, num_outputs, cfg)

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled vector of each sequence.

        Args:
            x: ``(batch, time)`` token ids or ``(batch, time, features)`` frames, padded.
            lengths: ``(batch,)`` int64 valid steps (each >= 1), or ``None`` (no padding).

        Returns:
            ``(batch, embed)``.

        Raises:
            DataError: ``time`` exceeds ``spec.max_length``.
        """
        batch, time = x.shape[0], x.shape[1]
        check_length(time, self.max_length)
        h = self.embedding(x)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(batch, 1, -1).to(h.dtype), h], dim=1)
            time += 1
            lengths = lengths + 1 if lengths is not None else None
        h = self.dropout(h + self.positions(time, h.device))
        mask = valid_mask(lengths, batch, time, h.device)
        key_mask = mask if lengths is not None else None
        for block in self.blocks:
            h = block(h, key_mask)
        return pool_sequence(apply_token_norm(self.norm, h, key_mask), mask, lengths, self.pooling)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Classify (or regress) each sequence.

        Args:
            x: ``(batch, time)`` token ids or ``(batch, time, features)`` frames, padded.
            lengths: ``(batch,)`` int64 valid steps (each >= 1), or ``None`` (no padding).

        Returns:
            ``(batch, num_outputs)`` logits or values.
        """
        return self.head(self.encode(x, lengths))  # type: ignore[no-any-return]
