"""The audio preprocessor: classes, feature settings and band statistics learned on the training split.

:class:`AudioPreprocessor` follows the estimator contract of :mod:`batchlab.data.preprocess`:
settings in ``__init__``, learning only in :meth:`~AudioPreprocessor.fit` (on the training
recordings), learned attributes ending in ``_``, and a JSON state (``"kind": "audio"``) that
evaluate and predict reload without refitting. Features themselves are computed per batch, on the
model's device, by the :class:`~batchlab.data.audio.features.Featurizer` it builds.

Example:
    >>> import torch
    >>> from batchlab.data.sequences.ragged import Ragged
    >>> waves = Ragged.from_sequences([torch.randn(4000), torch.randn(2400)], dtype=torch.float32)
    >>> pre = AudioPreprocessor(sample_rate=8000).fit(waves, ["yes", "no"])
    >>> pre.classes_, pre.input_spec_.shape, pre.input_spec_.max_length
    (['no', 'yes'], (40,), 51)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from batchlab.data.audio.features import FeatureSettings, Featurizer, fit_band_stats
from batchlab.data.audio.reading import duration_samples
from batchlab.errors import CheckpointError, DataError
from batchlab.inputs import InputSpec

if TYPE_CHECKING:
    from batchlab.config import DataConfig
    from batchlab.data.sequences.ragged import Ragged

__all__ = ["STATE_FORMAT", "AudioPreprocessor", "sorted_classes"]

STATE_FORMAT = "batchlab.audio-preprocessor/1"
"""The ``format`` key of :meth:`AudioPreprocessor.state_dict`; bumped when the layout changes."""


def sorted_classes(labels: Sequence[str]) -> list[str]:
    """Distinct labels in class order: numerically when every label is a number, else as text.

    This is the order :class:`~batchlab.data.target.TargetEncoder` gives numeric and text targets,
    so ``"10"`` follows ``"9"`` for numbered classes.

    Example:
        >>> sorted_classes(["10", "9", "2", "9"]), sorted_classes(["dog", "cat"])
        (['2', '9', '10'], ['cat', 'dog'])
    """
    distinct = set(labels)
    try:
        numbers = {label: float(label) for label in distinct}
    except ValueError:
        return sorted(distinct)
    if any(math.isnan(v) for v in numbers.values()):
        return sorted(distinct)
    return sorted(distinct, key=lambda label: (numbers[label], label))


class AudioPreprocessor:
    """Learns the classes and per-band feature statistics of the training recordings.

    Args:
        sample_rate: of the waveforms, in Hz (``data.audio.sample_rate``).
        features: ``logmel`` or ``mfcc`` (``data.audio.features``).
        n_mels: mel bands.
        n_mfcc: ``mfcc``: coefficients kept.
        win_ms: analysis window, in milliseconds.
        hop_ms: hop between frames, in milliseconds.
        normalize: ``band`` (standardize each feature band with training statistics) or ``none``.
        fixed_seconds: every recording's length when ``data.audio.fixed_seconds`` is set, in seconds;
            then batches carry no lengths.
        max_seconds: ``data.audio.max_seconds``, the longest any recording is read, in seconds; it
            bounds :attr:`max_frames_`, so that no recording read with the run's options (validation,
            test, new recordings) is longer than what a model was built for.

    Attributes:
        task_: ``"classification"``.
        classes_: sorted class names (see :func:`sorted_classes`); class index = position.
        band_mean_: ``(n_features,)`` float64 mean of each band over the training frames, or ``None``
            (``normalize: none``).
        band_std_: ``(n_features,)`` float64 standard deviation of each band, or ``None``.
        max_frames_: frames of the longest training recording, or of ``max_seconds`` when set (then
            no recording read with these options can have more).
        input_spec_: ``InputSpec("frames", (n_features,), max_length=max_frames_,
            variable_length=fixed_seconds is None)``.
    """

    kind = "audio"

    task_: str
    classes_: list[str] | None
    band_mean_: np.ndarray | None
    band_std_: np.ndarray | None
    max_frames_: int

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        features: str = "logmel",
        n_mels: int = 40,
        n_mfcc: int = 20,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        normalize: str = "band",
        fixed_seconds: float | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.features = features
        self.n_mels = n_mels
        self.n_mfcc = n_mfcc
        self.win_ms = win_ms
        self.hop_ms = hop_ms
        self.normalize = normalize
        self.fixed_seconds = fixed_seconds
        self.max_seconds = max_seconds

    @classmethod
    def from_config(cls, cfg: DataConfig) -> AudioPreprocessor:
        """An unfitted preprocessor with the settings of ``cfg.audio``."""
        audio = cfg.audio
        return cls(
            sample_rate=audio.sample_rate,
            features=audio.features,
            n_mels=audio.n_mels,
            n_mfcc=audio.n_mfcc,
            win_ms=audio.win_ms,
            hop_ms=audio.hop_ms,
            normalize=audio.normalize,
            fixed_seconds=audio.fixed_seconds,
            max_seconds=audio.max_seconds,
        )

    @property
    def settings(self) -> FeatureSettings:
        """The feature settings."""
        kind: Literal["logmel", "mfcc"] = "mfcc" if self.features == "mfcc" else "logmel"
        return FeatureSettings(self.sample_rate, kind, self.n_mels, self.n_mfcc, self.win_ms, self.hop_ms)

    @property
    def input_spec_(self) -> InputSpec:
        """What one featurized recording looks like to a model."""
        return InputSpec(
            "frames",
            (self.settings.n_features,),
            max_length=self.max_frames_,
            variable_length=self.fixed_seconds is None,
        )

    def fit(self, waveforms: Ragged, labels: Sequence[str], *, batch_size: int = 64) -> AudioPreprocessor:
        """Learn classes, band statistics and the longest recording from the training split.

        Args:
            waveforms: the training recordings, float32 at :attr:`sample_rate`.
            labels: the label of each recording.
            batch_size: recordings featurized at once for the band statistics (CPU).

        Raises:
            DataError: fewer than two classes, or no recordings.
        """
        if len(waveforms) == 0:
            raise DataError("data: the training split holds no recordings")
        classes = sorted_classes(labels)
        if len(classes) < 2:
            raise DataError(
                f"data: the training recordings have a single class '{classes[0]}'; classification needs at "
                "least 2 (put each class's recordings in its own sub-folder, or set data.label_pattern)"
            )
        self.task_ = "classification"
        self.classes_ = classes
        longest = int(waveforms.lengths.max())
        if self.max_seconds is not None and self.fixed_seconds is None:
            longest = max(longest, duration_samples(self.max_seconds, self.sample_rate))
        self.max_frames_ = self.settings.frames(longest)
        self.band_mean_ = self.band_std_ = None
        if self.normalize == "band":
            self.band_mean_, self.band_std_ = fit_band_stats(
                Featurizer(self.settings), waveforms, batch_size=batch_size
            )
        return self

    def encode_labels(self, labels: Sequence[str], *, where: str = "data") -> torch.Tensor:
        """Class indices of ``labels``, ``(n,)`` int64.

        Raises:
            DataError: a label that is not one of :attr:`classes_` (named, with ``where``).
        """
        index = {name: i for i, name in enumerate(self.classes_ or [])}
        codes = [index.get(label, -1) for label in labels]
        if -1 in codes:
            unseen = labels[codes.index(-1)]
            known = ", ".join((self.classes_ or [])[:10]) + (", ..." if len(self.classes_ or []) > 10 else "")
            raise DataError(
                f"{where}: label '{unseen}' is not a class of the training recordings; known classes: {known}"
            )
        return torch.tensor(codes, dtype=torch.int64)

    def featurizer(self, device: torch.device | str | None = None) -> Featurizer:
        """A :class:`Featurizer` with these settings and band statistics, on ``device`` (default CPU)."""
        featurizer = Featurizer(self.settings, self.band_mean_, self.band_std_)
        return featurizer.to(device) if device is not None else featurizer

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted state, JSON-serializable."""
        return {
            "format": STATE_FORMAT,
            "kind": self.kind,
            "settings": {
                "sample_rate": self.sample_rate,
                "features": self.features,
                "n_mels": self.n_mels,
                "n_mfcc": self.n_mfcc,
                "win_ms": self.win_ms,
                "hop_ms": self.hop_ms,
                "normalize": self.normalize,
                "fixed_seconds": self.fixed_seconds,
                "max_seconds": self.max_seconds,
            },
            "task": self.task_,
            "classes": self.classes_,
            "max_frames": self.max_frames_,
            "band_mean": None if self.band_mean_ is None else self.band_mean_.tolist(),
            "band_std": None if self.band_std_ is None else self.band_std_.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AudioPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`state_dict` (never refits).

        Raises:
            CheckpointError: ``state`` is not an audio preprocessor state of this format.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"audio preprocessor state has format {found!r}; expected {STATE_FORMAT!r}")
        try:
            pre = cls(**state["settings"])
            pre.task_ = str(state["task"])
            pre.classes_ = [str(c) for c in state["classes"]]
            pre.max_frames_ = int(state["max_frames"])
            pre.band_mean_ = None if state["band_mean"] is None else np.asarray(state["band_mean"], dtype=np.float64)
            pre.band_std_ = None if state["band_std"] is None else np.asarray(state["band_std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"audio preprocessor state is incomplete or corrupt ({exc.__class__.__name__}: {exc})"
            ) from None
        return pre

    def __repr__(self) -> str:
        fitted = f", classes={len(self.classes_ or [])}" if hasattr(self, "classes_") else ""
        return f"AudioPreprocessor({self.settings.kind}, sample_rate={self.sample_rate}{fitted})"
