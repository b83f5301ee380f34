"""The results of data preparation: splits of tensors and the preprocessor fitted on the training split."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from batchlab.data.sequences.ragged import Ragged
from batchlab.inputs import InputSpec

__all__ = ["FittedPreprocessor", "InferenceData", "PreparedData", "SequenceSplit", "Split", "TokenStream"]


class FittedPreprocessor(Protocol):
    """What every fitted preprocessor (tables and images, text, corpus, audio) offers.

    Attributes:
        task_: ``classification``, ``regression`` or ``language_model``.
        classes_: class names (index = class), or ``None``.
    """

    @property
    def task_(self) -> str: ...

    @property
    def classes_(self) -> list[str] | None: ...

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state; ``Preprocessor.from_state`` / the kind's ``from_state`` rebuild it."""
        ...


@dataclass(frozen=True)
class Split:
    """One split of preprocessed samples.

    Attributes:
        x: features, shape ``(n, *input_shape)``, float32.
        y: targets, shape ``(n,)``: int64 class indices, or float32 regression targets (scaled by
            the preprocessor; :meth:`Preprocessor.inverse_target` gives the original units).
    """

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Unpack as ``x, y = split``."""
        return iter((self.x, self.y))


@dataclass(frozen=True)
class SequenceSplit:
    """One split of variable-length samples (texts as token ids, recordings as waveforms).

    Attributes:
        x: the samples, stored end to end: token ids (int64) or waveforms (float32, at the
            configured sample rate).
        y: targets, ``(n,)``: int64 class indices or float32 regression targets.
        ids: a name per sample (the file of a recording), or ``None``.
        groups: the group of each sample (e.g. its speaker), or ``None``.
    """

    x: Ragged
    y: torch.Tensor
    ids: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class TokenStream:
    """One contiguous section of a tokenized corpus, for language modelling.

    Attributes:
        ids: ``(tokens,)`` int64 token ids in text order.
    """

    ids: torch.Tensor

    def __len__(self) -> int:
        """Tokens in the section."""
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class InferenceData:
    """New samples for evaluate / predict, preprocessed with a saved preprocessor.

    Attributes:
        x: features, shape ``(n, *input_shape)``, float32.
        y: targets as in :class:`Split`, or ``None`` when not required.
        ids: for an image folder, each image's path relative to it (to label predictions); else ``None``.
    """

    x: torch.Tensor | Ragged
    y: torch.Tensor | None
    ids: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.x)

    def __iter__(self) -> Iterator[Any]:
        """Unpack as ``x, y = inputs`` (``ids`` stays an attribute)."""
        return iter((self.x, self.y))


@dataclass(frozen=True)
class PreparedData:
    """The splits of a dataset and the preprocessor fitted on its training split.

    Attributes:
        train: the training split.
        val: the validation split; ``None`` when ``data.split.val`` is 0 and there is no ``val_source``.
        test: the test split; ``None`` when ``data.split.test`` is 0 and there is no ``test_source``.
        preprocessor: fitted on ``train`` only; save its ``state_dict()`` with the model.
        notes: facts about the preparation a user should see, e.g. ``truncated``: texts cut to the
            maximum length, per split (``{"max_length": 256, "train": [cut, of], ...}``).
    """

    train: Any  # Split | SequenceSplit | TokenStream | StreamedSplit
    val: Any
    test: Any
    preprocessor: FittedPreprocessor
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return self.preprocessor.task_

    @property
    def classes(self) -> list[str] | None:
        """Class names (index = class index), or ``None`` for regression."""
        return self.preprocessor.classes_

    @property
    def input_spec(self) -> InputSpec:
        """What one sample looks like to a model (see :class:`~batchlab.inputs.InputSpec`)."""
        spec = getattr(self.preprocessor, "input_spec_", None)
        if isinstance(spec, InputSpec):
            return spec
        return InputSpec.from_shape(tuple(getattr(self.preprocessor, "input_shape_", ())))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(features,)`` or ``(C, H, W)``; one step's shape for sequences."""
        return self.input_spec.shape

    @property
    def is_image(self) -> bool:
        """Whether samples are images ``(C, H, W)``."""
        return self.input_spec.kind == "image"

    @property
    def is_sequence(self) -> bool:
        """Whether samples are variable-length sequences or language-model windows (text, audio)."""
        return self.input_spec.is_sequence

    @property
    def num_outputs(self) -> int:
        """Model outputs: the vocabulary for a language model; else classes when > 2, else 1 (binary, regression)."""
        if self.task == "language_model":
            return int(self.input_spec.vocab_size or 0)
        classes = self.preprocessor.classes_
        return len(classes) if classes is not None and len(classes) > 2 else 1
