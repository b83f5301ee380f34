"""Example recordings of a run with their spectrograms and predictions, for the run's plots.

:func:`audio_examples` picks a few recordings of a split (different classes first, a seeded choice),
computes what the model predicts for them with the run's evaluation transform, and returns their
log-mel spectrograms (without the band normalization, so that the picture shows energy in dB-like
units whatever ``data.audio.features`` and ``normalize`` are) for
:func:`~batchlab.report.plots.plot_spectrograms`.

Example:
    >>> from batchlab.report.plots import plot_spectrograms
    >>> examples = audio_examples(model, transform, objective, data.test, preprocessor, count=8)  # doctest: +SKIP
    >>> plot_spectrograms(examples, "plots/spectrograms.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from batchlab.data.batch import Batch

if TYPE_CHECKING:
    from batchlab.data.audio.preprocessor import AudioPreprocessor
    from batchlab.data.prepared import SequenceSplit
    from batchlab.train.objective import Objective

__all__ = ["SpectrogramExample", "audio_examples", "pick_examples"]


@dataclass(frozen=True)
class SpectrogramExample:
    """One recording as a plot shows it.

    Attributes:
        logmel: ``(n_mels, frames)`` float32 log-mel energies (natural log) of the valid frames.
        hop_seconds: time between frames, in seconds.
        true: the recording's class.
        predicted: the model's class.
        probability: the model's probability of ``predicted``, in [0, 1].
        file: the recording's id (path relative to its folder), or ``None``.
    """

    logmel: np.ndarray
    hop_seconds: float
    true: str
    predicted: str
    probability: float
    file: str | None = None

    @property
    def correct(self) -> bool:
        """Whether the prediction is the true class."""
        return self.true == self.predicted


def pick_examples(labels: Sequence[int] | np.ndarray | torch.Tensor, count: int, *, seed: int = 0) -> list[int]:
    """Positions of ``count`` samples (all of them when there are fewer), as many classes as possible.

    A seeded permutation is walked in rounds: each round takes the first not yet taken sample of
    every class it meets, so ``count >= classes`` shows every class and no class appears twice
    before all have appeared once.

    Args:
        labels: the class index of each sample, ``(n,)``.
        count: samples wanted (>= 0).
        seed: seed of the permutation.

    Returns:
        Sorted by class, then position; ``min(count, n)`` distinct positions.

    Example:
        >>> sorted(pick_examples([0, 0, 0, 1, 2], 3, seed=0)) == sorted(pick_examples([0, 0, 0, 1, 2], 3, seed=1))
        False
        >>> [int(c) for c in np.asarray([0, 0, 0, 1, 2])[pick_examples([0, 0, 0, 1, 2], 3)]]
        [0, 1, 2]
    """
    classes = np.asarray(labels).reshape(-1)
    order = np.random.default_rng(seed).permutation(classes.shape[0])
    chosen: list[int] = []
    left = list(order)
    while left and len(chosen) < count:
        seen: set[int] = set()
        rest = []
        for position in left:
            label = int(classes[position])
            if label in seen or len(chosen) >= count:
                rest.append(position)
            else:
                seen.add(label)
                chosen.append(int(position))
        left = rest
    return sorted(chosen, key=lambda p: (int(classes[p]), p))


def audio_examples(
    model: torch.nn.Module,
    transform: Any,
    objective: Objective,
    split: SequenceSplit,
    preprocessor: AudioPreprocessor,
    *,
    count: int = 8,
    seed: int = 0,
) -> list[SpectrogramExample]:
    """``count`` recordings of ``split`` with their log-mel spectrograms and the model's predictions.

    Args:
        model: the trained module (its mode is restored afterwards).
        transform: the run's evaluation transform (waveforms to the model's features).
        objective: the run's objective (turns outputs into classes and probabilities).
        split: a labelled split of waveforms.
        preprocessor: the run's fitted audio preprocessor (classes, feature settings).
        count: recordings wanted; fewer when the split is smaller.
        seed: seed of the choice (see :func:`pick_examples`).

    Returns:
        The examples, ordered by class.
    """
    from batchlab.data.audio.features import Featurizer

    rows = pick_examples(split.y, count, seed=seed)
    if not rows:
        return []
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    index = torch.tensor(rows, dtype=torch.int64)
    waveforms, lengths = split.x.pad(index)
    batch = Batch(waveforms.to(device), split.y[index].to(device), lengths.to(device))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            features = transform(batch)
            outputs = model(*features.inputs).float().cpu()
    finally:
        model.train(was_training)
    predicted = objective.predict(outputs).reshape(-1)
    probabilities = objective.probabilities(outputs)
    settings = replace(preprocessor.settings, kind="logmel")
    with torch.no_grad():
        logmel, frames = Featurizer(settings)(waveforms, lengths)  # (count, frames, n_mels), unnormalized
    classes = preprocessor.classes_ or []
    examples = []
    for k, row in enumerate(rows):
        guess = int(predicted[k])
        examples.append(
            SpectrogramExample(
                logmel=logmel[k, : int(frames[k])].T.numpy().astype(np.float32),
                hop_seconds=settings.hop_length / settings.sample_rate,
                true=classes[int(split.y[row])],
                predicted=classes[guess],
                probability=float(probabilities[k, guess]),
                file=split.ids[row] if split.ids is not None else None,
            )
        )
    return examples
