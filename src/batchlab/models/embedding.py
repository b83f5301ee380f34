"""Front-end of the sequence models: one ``embed``-wide vector per time step, and its position.

Token ids go through an embedding table; audio feature frames through a linear projection. Position
embeddings are added by the models that need them (transformer encoders and GPT); recurrent models
read order from the recurrence.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from batchlab.errors import ConfigError, DataError
from batchlab.inputs import InputSpec

__all__ = ["InputEmbedding", "PositionEmbedding", "check_length", "sinusoidal_positions"]


class InputEmbedding(nn.Module):
    """Maps a padded batch of tokens or frames to ``(batch, time, embed)`` vectors.

    Args:
        spec: the input: ``tokens`` (``vocab_size`` ids, ``pad_id`` for padding) or ``frames``
            (``spec.shape == (features,)``).
        embed: width of each output vector (``model.embed``).
        padding: ``tokens``: give ``spec.pad_id`` the embedding table's padding row (zero, and no
            gradient from inputs). Language models pass ``False``: their windows hold no padding,
            and the id may be a real token whose row must train.

    Raises:
        ConfigError: the input is not a sequence (a table or images).
        ValueError: a ``tokens`` spec without ``vocab_size``, or ``frames`` without a feature count.
    """

    layer: nn.Embedding | nn.Linear

    def __init__(self, spec: InputSpec, embed: int, *, padding: bool = True) -> None:
        super().__init__()
        if spec.kind == "tokens":
            if not spec.vocab_size:
                raise ValueError("a tokens InputSpec needs vocab_size")
            self.layer = nn.Embedding(spec.vocab_size, embed, padding_idx=spec.pad_id if padding else None)
        elif spec.kind == "frames":
            if len(spec.shape) != 1 or spec.shape[0] < 1:
                raise ValueError(f"a frames InputSpec needs shape (features,), got {spec.shape}")
            self.layer = nn.Linear(spec.shape[0], embed)
        else:
            raise ConfigError(f"model.name: a sequence model needs tokens or audio frames, got {spec.kind} data")
        self.kind = spec.kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed each step.

        Args:
            x: ``(batch, time)`` int64 token ids, or ``(batch, time, features)`` float frames.

        Returns:
            ``(batch, time, embed)``.
        """
        return self.layer(x)  # type: ignore[no-any-return]


def sinusoidal_positions(length: int, embed: int) -> torch.Tensor:
    """The fixed sine/cosine position table of Vaswani et al. (2017).

    Column ``2i`` holds ``sin(t / 10000^(2i / embed))`` and column ``2i + 1`` the cosine of the same
    angle, for positions ``t = 0 .. length - 1``.

    Returns:
        ``(length, embed)`` float32, values in [-1, 1].

    >>> [round(v, 3) for v in sinusoidal_positions(3, 4)[1].tolist()]
    [0.841, 0.54, 0.01, 1.0]
    """
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    rates = torch.exp(torch.arange(0, embed, 2, dtype=torch.float64) * (-math.log(10000.0) / embed))
    angles = position * rates
    table = torch.zeros(length, embed, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : embed // 2])
    return table.float()


def check_length(time: int, max_length: int | None) -> None:
    """Raise a :class:`DataError` when ``time`` steps exceed a model's ``max_length`` positions."""
    if max_length is not None and time > max_length:
        raise DataError(
            f"input of {time} steps is longer than the {max_length} positions the model was built for; "
            "truncate it or build the model with a larger data.max_length (language models: data.context)"
        )


class PositionEmbedding(nn.Module):
    """One vector per position ``0 .. max_length - 1``, to add to the step vectors.

    ``learned`` positions are a trained table. ``sinusoidal`` ones are the fixed table of
    :func:`sinusoidal_positions` times one trained scalar gain (as in Hua et al. 2022), which
    starts at ``init_std * sqrt(2)`` so that the table's root mean square matches the ``init_std``
    of learned positions and small-initialized token vectors: neither swamps the other at the start,
    and training sets their balance. The table itself is not saved in the state dict.

    Args:
        kind: ``learned`` (needs ``max_length``) or ``sinusoidal``.
        embed: width of each vector.
        max_length: positions available; longer inputs raise :class:`DataError`. ``None``
            (sinusoidal only): no limit, the table is computed for each input's length.
        init_std: standard deviation of learned positions at initialization (GPT-2: 0.02), and the
            initial root mean square of sinusoidal ones.

    Raises:
        ConfigError: learned positions without a ``max_length``.
    """

    fixed: torch.Tensor

    def __init__(
        self, kind: Literal["learned", "sinusoidal"], embed: int, max_length: int | None, init_std: float = 0.02
    ) -> None:
        super().__init__()
        self.kind = kind
        self.embed = embed
        self.max_length = max_length
        self.table: nn.Embedding | None = None
        if kind == "learned":
            if max_length is None:
                raise ConfigError(
                    "model.positions: learned positions need the data's longest sequence (data.max_length, or "
                    "audio.max_seconds / audio.fixed_seconds for audio); use sinusoidal"
                )
            self.table = nn.Embedding(max_length, embed)
            nn.init.normal_(self.table.weight, std=init_std)
        elif kind == "sinusoidal":
            fixed = sinusoidal_positions(max_length, embed) if max_length is not None else torch.empty(0, embed)
            self.register_buffer("fixed", fixed, persistent=False)
            self.gain = nn.Parameter(torch.tensor(init_std * math.sqrt(2.0)))
        else:
            raise ConfigError(f"model.positions: unknown value {kind!r}; expected learned or sinusoidal")

    def forward(self, time: int, device: torch.device) -> torch.Tensor:
        """The vectors of positions ``0 .. time - 1``.

        Returns:
            ``(time, embed)``.

        Raises:
            DataError: ``time`` exceeds ``max_length``.
        """
        check_length(time, self.max_length)
        if self.table is not None:
            return self.table(torch.arange(time, device=device))  # type: ignore[no-any-return]
        if self.max_length is None:
            fixed = sinusoidal_positions(time, self.embed).to(device)
        else:
            fixed = self.fixed[:time]
        return self.gain * fixed
