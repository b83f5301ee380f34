"""Features of padded waveform batches, computed with torch on the batch's device.

A :class:`Featurizer` maps waveforms ``(batch, samples)`` with their lengths in samples to feature
frames ``(batch, frames, n_features)`` with their lengths in frames:

* ``logmel``: ``torch.stft`` with a periodic Hann window of ``win_ms`` (zero-padded to ``n_fft``, the
  next power of two of at least the window), hop ``hop_ms``, centred frames; the power spectrum is
  multiplied by librosa's mel filter bank (``librosa.filters.mel``, Slaney-style, 0 Hz to Nyquist,
  built once and kept as a buffer) and compressed with ``log(x + LOG_EPS)``.
* ``mfcc``: the orthonormal DCT-II (a matrix from scipy) of the log-mel frame, first ``n_mfcc``
  coefficients.
* optional per-band normalization: ``(feature - mean) / std`` with statistics of the training
  split's valid frames (:func:`fit_band_stats`).

Frame convention: frame ``t`` is centred on sample ``t * hop`` and the signal is padded with zeros
by ``n_fft // 2`` at both ends (``center=True, pad_mode="constant"``), so a recording of ``L``
samples has ``1 + L // hop`` frames (as librosa's and torchaudio's centred spectrograms). Samples
past a recording's length are zeroed before the STFT and frames past its frame length are set to 0
after normalization, so a recording's features never depend on the padding of its batch.

Cost (measured on one CPU thread, torch 2.13, a shared 2-core machine): a batch of 32 FSDD
recordings drawn at random (8 kHz, padded to the longest, on average 6,450 samples = 0.81 s),
40 mel bands, 25 ms / 10 ms, takes 3-6 ms for ``logmel`` and about the same for ``mfcc``
(roughly 0.1-0.2 ms per recording; the FFT is a third of it). With noise, shift, gain and
SpecAugment on top (:class:`~batchlab.data.audio.transform.AudioTransform`), 6-14 ms.

Example:
    >>> import torch
    >>> settings = FeatureSettings(sample_rate=8000, kind="logmel", n_mels=40, n_mfcc=20, win_ms=25, hop_ms=10)
    >>> featurize = Featurizer(settings)
    >>> feats, frames = featurize(torch.randn(2, 8000), torch.tensor([8000, 4000]))
    >>> tuple(feats.shape), frames.tolist()
    ((2, 101, 40), [101, 51])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from batchlab.data.audio.reading import require

if TYPE_CHECKING:
    from batchlab.config import AudioConfig
    from batchlab.data.sequences.ragged import Ragged

__all__ = ["LOG_EPS", "FeatureSettings", "Featurizer", "fit_band_stats"]

LOG_EPS = 1e-6
"""Added to mel energies before the log (floor of about -13.8 for digital silence)."""

_MIN_STD = 1e-5  # a band with less spread than this is only centred, not scaled


@dataclass(frozen=True)
class FeatureSettings:
    """What the features are: the subset of ``data.audio`` a :class:`Featurizer` needs.

    Attributes:
        sample_rate: of the waveforms, in Hz.
        kind: ``logmel`` or ``mfcc``.
        n_mels: mel bands.
        n_mfcc: ``mfcc``: coefficients kept.
        win_ms: analysis window, in milliseconds.
        hop_ms: hop between frames, in milliseconds.
    """

    sample_rate: int
    kind: Literal["logmel", "mfcc"]
    n_mels: int
    n_mfcc: int
    win_ms: float
    hop_ms: float

    @classmethod
    def from_config(cls, audio: AudioConfig) -> FeatureSettings:
        """The settings of a ``data.audio`` section."""
        return cls(audio.sample_rate, audio.features, audio.n_mels, audio.n_mfcc, audio.win_ms, audio.hop_ms)

    @property
    def win_length(self) -> int:
        """Window length, in samples."""
        return max(1, round(self.win_ms * self.sample_rate / 1000))

    @property
    def hop_length(self) -> int:
        """Hop, in samples."""
        return max(1, round(self.hop_ms * self.sample_rate / 1000))

    @property
    def n_fft(self) -> int:
        """FFT size: the smallest power of two of at least :attr:`win_length`."""
        return 1 << (self.win_length - 1).bit_length()

    @property
    def n_features(self) -> int:
        """Features per frame: ``n_mels`` or ``n_mfcc``."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def frames(self, samples: int) -> int:
        """Frames of a recording of ``samples`` samples: ``1 + samples // hop_length``."""
        return 1 + samples // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> FeatureSettings:
        """The inverse of :meth:`to_dict`."""
        return cls(
            int(value["sample_rate"]),
            value["kind"],
            int(value["n_mels"]),
            int(value["n_mfcc"]),
            float(value["win_ms"]),
            float(value["hop_ms"]),
        )


class Featurizer(nn.Module):
    """Log-mel or MFCC frames of padded waveforms, optionally normalized per band.

    Holds its constants (window, mel filter bank, DCT matrix, band statistics) as buffers, so
    ``featurizer.to(device)`` moves them with the module; there are no parameters to train.

    Args:
        settings: what to compute.
        band_mean: ``(n_features,)`` mean of each band over the training frames, or ``None`` for no
            normalization (then ``band_std`` must be ``None`` too).
        band_std: ``(n_features,)`` standard deviation of each band; bands with less than 1e-5 are
            only centred.

    Raises:
        DataError: librosa (the audio extra) is not installed.
    """

    window: torch.Tensor
    mel_basis: torch.Tensor
    dct: torch.Tensor | None
    band_mean: torch.Tensor | None
    band_std: torch.Tensor | None

    def __init__(
        self,
        settings: FeatureSettings,
        band_mean: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        band_std: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if (band_mean is None) != (band_std is None):
            raise ValueError("band_mean and band_std are given together or not at all")
        self.settings = settings
        filters = require("librosa.filters")
        mel = filters.mel(
            sr=settings.sample_rate, n_fft=settings.n_fft, n_mels=settings.n_mels, fmin=0.0, htk=False, norm="slaney"
        )  # (n_mels, n_fft // 2 + 1)
        self.register_buffer("window", torch.hann_window(settings.win_length, periodic=True, dtype=torch.float32))
        self.register_buffer("mel_basis", torch.from_numpy(np.ascontiguousarray(mel.T, dtype=np.float32)))
        dct = None
        if settings.kind == "mfcc":
            scipy_fft = require("scipy.fft")
            matrix = scipy_fft.dct(np.eye(settings.n_mels), type=2, norm="ortho", axis=0)  # row k: DCT basis k
            dct = torch.from_numpy(np.ascontiguousarray(matrix[: settings.n_mfcc].T, dtype=np.float32))
        self.register_buffer("dct", dct)  # (n_mels, n_mfcc) or None
        mean = None if band_mean is None else torch.as_tensor(np.asarray(band_mean, dtype=np.float32))
        std = None if band_std is None else torch.as_tensor(np.asarray(band_std, dtype=np.float32))
        if mean is not None and std is not None:
            for name, value in (("band_mean", mean), ("band_std", std)):
                if value.shape != (settings.n_features,):
                    raise ValueError(f"{name} has shape {tuple(value.shape)}; expected ({settings.n_features},)")
            std = torch.where(std < _MIN_STD, torch.ones_like(std), std)
        self.register_buffer("band_mean", mean)
        self.register_buffer("band_std", std)

    @property
    def normalized(self) -> bool:
        """Whether band statistics are applied."""
        return self.band_mean is not None

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of a batch.

        Args:
            waveforms: ``(batch, samples)`` float32, padded after each recording's end.
            lengths: ``(batch,)`` int64 valid samples of each recording; ``None`` when all are full.

        Features are computed in float32 also inside an autocast region.

        Returns:
            ``features`` ``(batch, frames, n_features)`` float32 with ``frames = 1 + samples // hop``,
            zero past each recording's frames, and ``frame_lengths`` ``(batch,)`` int64,
            ``1 + lengths // hop``.
        """
        with torch.autocast(waveforms.device.type, enabled=False):  # float32 math even inside autocast
            return self._features(waveforms.float(), lengths)

    def _features(self, waveforms: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        settings = self.settings
        batch, samples = waveforms.shape
        steps = torch.arange(samples, device=waveforms.device)
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.int64, device=waveforms.device)
        lengths = lengths.to(device=waveforms.device, dtype=torch.int64)
        # Whatever lies past a recording's end (padding, augmentation) must not reach its frames.
        signal = waveforms.masked_fill(steps.unsqueeze(0) >= lengths.unsqueeze(1), 0.0)
        spectrum = torch.stft(
            signal,
            n_fft=settings.n_fft,
            hop_length=settings.hop_length,
            win_length=settings.win_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # (batch, n_fft // 2 + 1, frames)
        power = spectrum.real.square() + spectrum.imag.square()
        features = torch.log(torch.matmul(power.transpose(1, 2), self.mel_basis) + LOG_EPS)  # (batch, frames, n_mels)
        if self.dct is not None:
            features = torch.matmul(features, self.dct)  # (batch, frames, n_mfcc)
        if self.band_mean is not None and self.band_std is not None:
            features = (features - self.band_mean) / self.band_std
        frame_lengths = 1 + torch.div(lengths, settings.hop_length, rounding_mode="floor")
        frame_steps = torch.arange(features.shape[1], device=features.device)
        padding = frame_steps.unsqueeze(0) >= frame_lengths.unsqueeze(1)  # (batch, frames)
        return features.masked_fill(padding.unsqueeze(-1), 0.0), frame_lengths

    def extra_repr(self) -> str:
        s = self.settings
        return (
            f"{s.kind}, sample_rate={s.sample_rate}, n_mels={s.n_mels}, n_features={s.n_features}, "
            f"win={s.win_length}, hop={s.hop_length}, n_fft={s.n_fft}, normalized={self.normalized}"
        )


def fit_band_stats(featurizer: Featurizer, waveforms: Ragged, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each feature band over every valid frame of ``waveforms``.

    Recordings are featurized in batches of similar length (sorted by length, so little padding is
    computed); padded frames are excluded; sums are accumulated in float64.

    Args:
        featurizer: without band statistics (``normalized`` false).
        waveforms: the training split's recordings.
        batch_size: recordings per featurized batch.

    Returns:
        ``(mean, std)``, each ``(n_features,)`` float64; ``std`` is the population standard deviation.

    Raises:
        ValueError: the featurizer already normalizes, or there are no recordings.
    """
    if featurizer.normalized:
        raise ValueError("fit_band_stats needs a featurizer without band statistics")
    if len(waveforms) == 0:
        raise ValueError("fit_band_stats needs at least one recording")
    n_features = featurizer.settings.n_features
    total = torch.zeros(n_features, dtype=torch.float64)
    total_sq = torch.zeros(n_features, dtype=torch.float64)
    frames = 0
    order = torch.argsort(waveforms.lengths, stable=True)
    device = featurizer.mel_basis.device
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            padded, lengths = waveforms.pad(order[start : start + batch_size])
            features, frame_lengths = featurizer(padded.to(device), lengths.to(device))
            valid = features.to(torch.float64).cpu()  # padded frames are 0 and add nothing to the sums
            total += valid.sum(dim=(0, 1))
            total_sq += valid.square().sum(dim=(0, 1))
            frames += int(frame_lengths.sum())
    mean = total / frames
    var = (total_sq / frames - mean.square()).clamp(min=0.0)
    return mean.numpy(), var.sqrt().numpy()
