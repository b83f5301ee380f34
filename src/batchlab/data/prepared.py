"""The results of data preparation: splits of tensors and the preprocessor fitted on the training split."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from batchlab.data.preprocess import Preprocessor

__all__ = ["InferenceData", "PreparedData", "Split"]


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
class InferenceData:
    """New samples for evaluate / predict, preprocessed with a saved preprocessor.

    Attributes:
        x: features, shape ``(n, *input_shape)``, float32.
        y: targets as in :class:`Split`, or ``None`` when not required.
        ids: for an image folder, each image's path relative to it (to label predictions); else ``None``.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    ids: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __iter__(self) -> Iterator[torch.Tensor | None]:
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
    """

    train: Split
    val: Split | None
    test: Split | None
    preprocessor: Preprocessor

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return self.preprocessor.task_

    @property
    def classes(self) -> list[str] | None:
        """Class names (index = class index), or ``None`` for regression."""
        return self.preprocessor.classes_

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(features,)`` or ``(C, H, W)``."""
        return self.preprocessor.input_shape_

    @property
    def is_image(self) -> bool:
        """Whether samples are images ``(C, H, W)``."""
        return self.preprocessor.is_image_

    @property
    def num_outputs(self) -> int:
        """Model outputs: the number of classes when > 2, else 1 (binary: one logit for BCE; regression)."""
        classes = self.preprocessor.classes_
        return len(classes) if classes is not None and len(classes) > 2 else 1
