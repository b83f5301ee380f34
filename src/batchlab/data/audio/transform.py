"""The per-batch audio transform the batching calls: waveform augmentation, features, SpecAugment.

Batches of recordings arrive as padded waveforms ``(batch, samples)`` with lengths in samples and
leave as feature frames ``(batch, frames, n_features)`` with lengths in frames, computed on the
batch's device. The training transform reseeds its augmenter from ``(seed, epoch, batch index)``
before each batch (the rule image augmentation uses, through
:func:`~batchlab.data.batching.epoch_seed`), so any batch's augmentation is reproduced exactly
after a resume, without saving generator state. The evaluation transform only featurizes.

Example:
    >>> import torch
    >>> from batchlab.config import SpecAugmentConfig
    >>> from batchlab.data.audio.augment import AudioAugmenter
    >>> from batchlab.data.audio.features import FeatureSettings, Featurizer
    >>> from batchlab.data.batch import Batch
    >>> featurizer = Featurizer(FeatureSettings(8000, "logmel", 40, 20, 25.0, 10.0))
    >>> train = AudioTransform(featurizer, AudioAugmenter([SpecAugmentConfig()], sample_rate=8000, seed=0), seed=0)
    >>> out = train(Batch(torch.randn(2, 4000), torch.tensor([0, 1]), torch.tensor([4000, 3000])), epoch=0, index=0)
    >>> tuple(out.x.shape), out.lengths.tolist()
    ((2, 51, 40), [51, 38])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from batchlab.data.audio.augment import AudioAugmenter
from batchlab.data.batch import Batch
from batchlab.data.batching import epoch_seed
from batchlab.errors import ConfigError

if TYPE_CHECKING:
    from batchlab.config import AugmentStep
    from batchlab.data.audio.features import Featurizer
    from batchlab.data.audio.preprocessor import AudioPreprocessor

__all__ = ["BATCH_SEED_STRIDE", "AudioTransform", "audio_transforms"]

BATCH_SEED_STRIDE = 7919
"""Batch ``index`` of an epoch draws from ``epoch_seed(seed + BATCH_SEED_STRIDE * (index + 1), epoch)``."""


class AudioTransform:
    """Waveform batch in, feature batch out; augmented when an augmenter is given.

    Args:
        featurizer: the run's featurizer (with its band statistics); moved to each batch's device.
        augmenter: training augmentation, or ``None`` for evaluation and prediction.
        seed: the run's seed (``train.seed``); with ``epoch`` and ``index`` it seeds each batch.
        variable_length: return frame lengths with the features; ``False`` for fixed-length
            recordings (``data.audio.fixed_seconds``), whose batches then carry no lengths.
    """

    def __init__(
        self,
        featurizer: Featurizer,
        augmenter: AudioAugmenter | None = None,
        *,
        seed: int = 0,
        variable_length: bool = True,
    ) -> None:
        self.featurizer = featurizer
        self.augmenter = augmenter
        self.seed = seed
        self.variable_length = variable_length

    def __call__(self, batch: Batch, epoch: int = 0, index: int = 0) -> Batch:
        """Transform one batch.

        Args:
            batch: ``x`` ``(batch, samples)`` float32 waveforms, zero-padded; ``lengths`` ``(batch,)``
                int64 valid samples, or ``None`` when every recording fills ``samples``.
            epoch: the epoch, from 0 (training: part of the batch's seed).
            index: the batch's index within the epoch, from 0 (training: part of the batch's seed).

        Returns:
            A :class:`Batch` on the same device: ``x`` ``(batch, frames, n_features)`` float32, the
            same ``y``, and ``lengths`` ``(batch,)`` int64 frames (``None`` when not variable-length).

        Raises:
            ConfigError: ``batch.x`` is not a 2-D floating-point waveform batch.
        """
        x, lengths = batch.x, batch.lengths
        if x.ndim != 2 or not x.is_floating_point():
            raise ConfigError(
                "data.audio: features are computed from waveform batches (batch, samples), "
                f"got a {x.dtype} batch of shape {tuple(x.shape)}"
            )
        if self.featurizer.mel_basis.device != x.device:
            self.featurizer.to(x.device)
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64, device=x.device)
        if self.augmenter is not None:
            # Reseeding by position makes the augmentation of any batch reproducible after a resume.
            self.augmenter.generator.manual_seed(epoch_seed(self.seed + BATCH_SEED_STRIDE * (index + 1), epoch))
            x = self.augmenter.waveforms(x, lengths)
        features, frame_lengths = self.featurizer(x, lengths)
        if self.augmenter is not None:
            features = self.augmenter.features(features, frame_lengths)
        return Batch(features, batch.y, frame_lengths if self.variable_length else None)

    def __repr__(self) -> str:
        return f"AudioTransform({self.featurizer!r}, augmenter={self.augmenter!r}, seed={self.seed})"


def audio_transforms(
    preprocessor: AudioPreprocessor,
    augment: Sequence[AugmentStep],
    *,
    seed: int,
    device: torch.device | str | None = None,
) -> tuple[AudioTransform, AudioTransform]:
    """The training and evaluation transforms of a run, sharing one featurizer.

    Args:
        preprocessor: the run's fitted preprocessor (feature settings and band statistics).
        augment: the ``data.augment`` steps; empty for no augmentation.
        seed: the run's seed (``train.seed``).
        device: where the featurizer's constants start (each call moves them to the batch's device).

    Returns:
        ``(train, eval)``: ``train`` augments (when ``augment`` is not empty) and featurizes; ``eval``
        only featurizes. Both return lengths unless the preprocessor has a fixed length.

    Raises:
        ConfigError: an image augmentation in ``augment``.
    """
    featurizer = preprocessor.featurizer(device)
    variable = preprocessor.fixed_seconds is None
    augmenter = AudioAugmenter(augment, sample_rate=preprocessor.sample_rate, seed=seed) if augment else None
    return (
        AudioTransform(featurizer, augmenter, seed=seed, variable_length=variable),
        AudioTransform(featurizer, seed=seed, variable_length=variable),
    )
