"""Recurrent (LSTM / GRU) classifiers over token sequences and audio frames."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models.activations import dropout_layer
from batchlab.models.embedding import InputEmbedding
from batchlab.models.masks import valid_mask
from batchlab.models.mlp import dense_head
from batchlab.models.pooling import pool_sequence

__all__ = ["RECURRENT_CELLS", "RecurrentClassifier", "make_recurrent", "run_recurrent"]

RECURRENT_CELLS: dict[str, type[nn.LSTM] | type[nn.GRU]] = {"lstm": nn.LSTM, "gru": nn.GRU}
"""The recurrent layer of each ``model.name``."""


def make_recurrent(cfg: ModelConfig, *, bidirectional: bool) -> nn.LSTM | nn.GRU:
    """The stacked recurrent layer ``cfg.name`` names: ``cfg.layers`` layers of ``cfg.units``.

    Input width is ``cfg.embed``; hidden units per direction ``cfg.units`` (``None``: ``embed``);
    dropout ``cfg.dropout`` between layers (PyTorch applies none after the last).

    Raises:
        ConfigError: ``cfg.name`` is not ``lstm`` or ``gru``.
    """
    cell = RECURRENT_CELLS.get(cfg.name)
    if cell is None:
        raise ConfigError(f"model.name: a recurrent model needs lstm or gru, got {cfg.name!r}")
    return cell(
        cfg.embed,
        cfg.units or cfg.embed,
        num_layers=cfg.layers,
        batch_first=True,
        dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        bidirectional=bidirectional,
    )


def run_recurrent(
    rnn: nn.LSTM | nn.GRU, x: torch.Tensor, lengths: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``rnn`` over a padded batch so that padding never reaches the recurrent state.

    With ``lengths`` the batch is packed (``pack_padded_sequence``, any order of lengths), so each
    direction reads only the valid steps of each sequence: the forward direction stops at the last
    valid step and the backward one starts there.

    Args:
        rnn: a ``batch_first`` LSTM or GRU.
        x: ``(batch, time, input)`` step vectors.
        lengths: ``(batch,)`` int64 valid steps, each in ``[1, time]``, or ``None`` (no padding).

    Returns:
        ``outputs`` ``(batch, time, directions * units)``, zero at padded steps, and the final
        hidden state ``(layers * directions, batch, units)`` (an LSTM's ``h``, not its cell state).
    """
    if lengths is None:
        outputs, state = rnn(x)
    else:
        # Packing needs the lengths on the CPU whatever the device of the data.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_outputs, state = rnn(packed)
        outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=x.shape[1])
    hidden = state[0] if isinstance(state, tuple) else state
    return outputs, hidden


class RecurrentClassifier(nn.Module):
    """An LSTM or GRU over a padded sequence, pooled into one vector, then a dense head.

    The steps pass through the front-end (token embedding or frame projection to ``cfg.embed``),
    dropout, and ``cfg.layers`` recurrent layers of ``cfg.units`` per direction (both directions
    with ``cfg.bidirectional``), run on packed sequences. Pooling (``cfg.pooling``): ``mean`` or
    ``max`` of the last layer's outputs over valid steps, or ``last``: the final state of each
    direction (forward after the last valid step, backward after the first step), concatenated.
    Padding never changes the output.

    Args:
        spec: the input (``tokens`` or ``frames``).
        num_outputs: output width (classes, or regression targets).
        cfg: the ``model`` section: ``name`` (``lstm`` or ``gru``), ``embed``, ``units``,
            ``layers``, ``bidirectional``, ``dropout``, ``pooling``, and the head's ``hidden``,
            ``activation``, ``norm``.

    Raises:
        ConfigError: a non-sequence input, a name other than lstm / gru, or ``cls`` pooling.

    Example:
        >>> spec = InputSpec("tokens", (), vocab_size=50)
        >>> model = RecurrentClassifier(spec, 2, ModelConfig(name="gru", embed=16, hidden=[], bidirectional=True))
        >>> model(torch.randint(1, 50, (3, 7)), torch.tensor([7, 2, 5])).shape
        torch.Size([3, 2])
    """

    def __init__(self, spec: InputSpec, num_outputs: int, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.pooling not in ("mean", "max", "last"):
            raise ConfigError(
                f"model.pooling: {cfg.name} pools with mean, max or last, got {cfg.pooling!r} (cls is for transformer)"
            )
        self.pooling = cfg.pooling
        self.embedding = InputEmbedding(spec, cfg.embed)
        self.dropout = dropout_layer(cfg.dropout)
        self.rnn = make_recurrent(cfg, bidirectional=cfg.bidirectional)
        self.directions = 2 if cfg.bidirectional else 1
        self.head = dense_head(self.directions * self.rnn.hidden_size, num_outputs, cfg)

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled vector of each sequence.

        Args:
            x: ``(batch, time)`` token ids or ``(batch, time, features)`` frames, padded.
            lengths: ``(batch,)`` int64 valid steps (each >= 1), or ``None`` (no padding).

        Returns:
            ``(batch, directions * units)``.
        """
        batch, time = x.shape[0], x.shape[1]
        outputs, hidden = run_recurrent(self.rnn, self.dropout(self.embedding(x)), lengths)
        if self.pooling == "last":
            # The last layer's final state of each direction: (directions, batch, units).
            final = hidden.view(self.rnn.num_layers, self.directions, batch, -1)[-1]
            pooled = final.transpose(0, 1).reshape(batch, -1)
        else:
            pooled = pool_sequence(outputs, valid_mask(lengths, batch, time, x.device), lengths, self.pooling)
        return self.dropout(pooled)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Classify (or regress) each sequence.

        Args:
            x: ``(batch, time)`` token ids or ``(batch, time, features)`` frames, padded.
            lengths: ``(batch,)`` int64 valid steps (each >= 1), or ``None`` (no padding).

        Returns:
            ``(batch, num_outputs)`` logits or values.
        """
        return self.head(self.encode(x, lengths))  # type: ignore[no-any-return]
