"""What one sample looks like to a model: the contract between prepared data and model builders.

The data layer describes its samples with an :class:`InputSpec`; ``models.build_model`` sizes the
network from it. Neither layer imports the other.

Example:
    >>> InputSpec("tokens", (), vocab_size=68, max_length=256).is_sequence
    True
    >>> InputSpec.from_shape((1, 8, 8)).kind
    'image'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["InputKind", "InputSpec"]

InputKind = Literal["vector", "image", "tokens", "frames"]


@dataclass(frozen=True)
class InputSpec:
    """The shape and kind of one model input.

    Attributes:
        kind: ``vector`` (``x`` is ``(batch, features)``), ``image`` (``(batch, C, H, W)``),
            ``tokens`` (``(batch, time)`` int64 ids, padded with ``pad_id``) or ``frames``
            (``(batch, time, features)`` float32 feature frames, padded with zeros).
        shape: one sample without the batch dimension, for fixed-size kinds; for ``tokens`` ``()``
            and for ``frames`` ``(features,)``: the shape of one time step.
        vocab_size: ``tokens``: number of distinct ids (special tokens included).
        pad_id: ``tokens``: the padding id.
        cls_id: ``tokens``: the class-token id (prepended by ``cls`` pooling), or ``None``.
        max_length: longest sequence a model must accept, in steps (positions to embed); ``None``
            for fixed-size kinds.
        variable_length: sequences come padded with ``lengths`` (``False``: every sample has
            ``max_length`` steps, e.g. language-model windows or fixed-length audio crops).
    """

    kind: InputKind
    shape: tuple[int, ...]
    vocab_size: int | None = None
    pad_id: int = 0
    cls_id: int | None = None
    max_length: int | None = None
    variable_length: bool = False

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> InputSpec:
        """A fixed-size input: ``(features,)`` is a vector, ``(C, H, W)`` an image."""
        return cls("image" if len(shape) == 3 else "vector", tuple(shape))

    @property
    def is_sequence(self) -> bool:
        """Whether samples are sequences over time (``tokens`` or ``frames``)."""
        return self.kind in ("tokens", "frames")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields (``run.json``)."""
        return {
            "kind": self.kind,
            "shape": list(self.shape),
            "vocab_size": self.vocab_size,
            "pad_id": self.pad_id,
            "cls_id": self.cls_id,
            "max_length": self.max_length,
            "variable_length": self.variable_length,
        }

    @classmethod
    def from_dict(cls, value: dict[str, object]) -> InputSpec:
        """The inverse of :meth:`to_dict`."""
        shape = value.get("shape") or []
        assert isinstance(shape, list)
        return cls(
            kind=value["kind"],  # type: ignore[arg-type]
            shape=tuple(int(s) for s in shape),
            vocab_size=value.get("vocab_size"),  # type: ignore[arg-type]
            pad_id=int(value.get("pad_id") or 0),  # type: ignore[call-overload]
            cls_id=value.get("cls_id"),  # type: ignore[arg-type]
            max_length=value.get("max_length"),  # type: ignore[arg-type]
            variable_length=bool(value.get("variable_length")),
        )
