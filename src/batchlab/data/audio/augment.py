"""Audio augmentation of training batches: noise, time shift and gain on waveforms, SpecAugment on features.

The transforms are deterministic functions of a padded batch, its lengths and drawn parameters
(:func:`add_noise`, :func:`circular_shift`, :func:`apply_gain`, :func:`mask_features`), each
leaving every sample past a recording's length at 0. An :class:`AudioAugmenter` draws the parameters
of each step, per recording, from the one CPU ``torch.Generator`` it owns, in a fixed order that
depends only on the batch's shape (never on its values). So the augmentation of a batch is a pure
function of (batch, generator state), identical on any device; :class:`~batchlab.data.audio.transform.
AudioTransform` reseeds the generator per batch from ``(seed, epoch, batch index)`` for exact resumes.

Steps (``data.augment``), each drawn independently for every recording:

* ``noise``: with probability ``p``, white Gaussian noise at an SNR uniform in
  ``[snr_db, snr_db + snr_range]`` dB relative to the recording's own mean power over its valid
  samples (the noise is scaled so that the realized SNR over those samples is exact).
* ``shift``: a circular shift by a whole number of samples uniform in ``[-max, max]``
  (``max = round(max_ms * sample_rate / 1000)``), wrapping within the recording's valid length.
* ``gain``: multiply by ``10 ** (g / 20)``, ``g`` uniform in ``[-db, db]``.
* ``specaugment`` (applied to the features, after the waveform steps, wherever it is listed):
  ``time_masks`` masks of width uniform in ``[0, time_width]`` frames (at most the recording's frames)
  starting uniformly within its valid frames, and ``freq_masks`` masks of width uniform in
  ``[0, freq_width]`` bins (at most ``n_features``); masked values are set to 0, the training mean of
  normalized features.

Example:
    >>> import torch
    >>> from batchlab.config import GainConfig, ShiftConfig
    >>> augment = AudioAugmenter([ShiftConfig(max_ms=50), GainConfig(db=6)], sample_rate=8000, seed=0)
    >>> augment.waveforms(torch.randn(4, 8000), torch.tensor([8000, 6000, 5000, 100])).shape
    torch.Size([4, 8000])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from batchlab.config import AUDIO_AUGMENTS, GainConfig, NoiseConfig, ShiftConfig, SpecAugmentConfig
from batchlab.config import AugmentStep as _AnyStep
from batchlab.errors import ConfigError

__all__ = [
    "AudioAugmenter",
    "FeatureMasks",
    "add_noise",
    "apply_gain",
    "circular_shift",
    "mask_features",
]

AudioStep = SpecAugmentConfig | NoiseConfig | ShiftConfig | GainConfig


# ------------------------------------------------------------------------------ deterministic transforms


def _valid(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``(batch, steps)`` bool: which steps lie within each sequence's length."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def add_noise(
    waveforms: torch.Tensor, lengths: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor, apply: torch.Tensor
) -> torch.Tensor:
    """Add ``noise`` scaled to a signal-to-noise ratio of ``snr_db`` over each recording's valid samples.

    Args:
        waveforms: ``(batch, samples)`` float32, zero past each length.
        lengths: ``(batch,)`` int64 valid samples.
        noise: ``(batch, samples)`` raw noise (e.g. standard normal); only its valid part is used.
        snr_db: ``(batch,)`` target SNR in dB: ``10 * log10(signal power / noise power)``, powers being
            mean squares over the valid samples.
        apply: ``(batch,)`` bool, which recordings get noise.

    Returns:
        A new tensor like ``waveforms``; rows not applied, silent rows and samples past a length are unchanged.
    """
    device = waveforms.device
    valid = _valid(lengths.to(device), waveforms.shape[1])
    noise = noise.to(device=device, dtype=waveforms.dtype).masked_fill(~valid, 0.0)
    count = lengths.to(device=device, dtype=waveforms.dtype).clamp(min=1)
    signal_power = waveforms.masked_fill(~valid, 0.0).square().sum(1) / count
    noise_power = noise.square().sum(1) / count
    target = signal_power / torch.pow(10.0, snr_db.to(device=device, dtype=waveforms.dtype) / 10.0)
    scale = torch.where(noise_power > 0, torch.sqrt(target / noise_power.clamp(min=1e-30)), 0.0)
    scale = scale * apply.to(device)
    return waveforms + noise * scale.unsqueeze(1)


def circular_shift(waveforms: torch.Tensor, lengths: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Rotate each recording by ``shifts`` samples within its valid length.

    Args:
        waveforms: ``(batch, samples)``.
        lengths: ``(batch,)`` int64 valid samples.
        shifts: ``(batch,)`` int64; positive delays the content (samples move later and the end wraps
            to the start), negative advances it.

    Returns:
        A new tensor with ``out[i, t] = waveforms[i, (t - shifts[i]) mod lengths[i]]`` for
        ``t < lengths[i]``, and 0 past the length.
    """
    device = waveforms.device
    lengths = lengths.to(device)
    steps = torch.arange(waveforms.shape[1], device=device).unsqueeze(0)
    period = lengths.clamp(min=1).unsqueeze(1)
    source = torch.remainder(steps - shifts.to(device).unsqueeze(1), period)
    return waveforms.gather(1, source).masked_fill(~_valid(lengths, waveforms.shape[1]), 0.0)


def apply_gain(waveforms: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """Scale each recording by ``10 ** (gain_db / 20)``; ``gain_db`` is ``(batch,)`` in dB."""
    factor = torch.pow(10.0, gain_db.to(device=waveforms.device, dtype=waveforms.dtype) / 20.0)
    return waveforms * factor.unsqueeze(1)


@dataclass(frozen=True)
class FeatureMasks:
    """The bands SpecAugment zeroes, per recording (``k`` masks each; a width of 0 masks nothing).

    Attributes:
        time_starts: ``(batch, k_time)`` int64 first masked frame.
        time_widths: ``(batch, k_time)`` int64 masked frames.
        freq_starts: ``(batch, k_freq)`` int64 first masked feature bin.
        freq_widths: ``(batch, k_freq)`` int64 masked bins.
    """

    time_starts: torch.Tensor
    time_widths: torch.Tensor
    freq_starts: torch.Tensor
    freq_widths: torch.Tensor

    def mask(self, frames: int, n_features: int, device: torch.device | None = None) -> torch.Tensor:
        """``(batch, frames, n_features)`` bool, true where a value is masked."""
        time = _bands(self.time_starts.to(device), self.time_widths.to(device), frames)  # (batch, frames)
        freq = _bands(self.freq_starts.to(device), self.freq_widths.to(device), n_features)  # (batch, n_features)
        return time.unsqueeze(2) | freq.unsqueeze(1)


def _bands(starts: torch.Tensor, widths: torch.Tensor, size: int) -> torch.Tensor:
    """``(batch, size)`` bool: positions inside any of the ``[start, start + width)`` bands of a row."""
    steps = torch.arange(size, device=starts.device).view(1, 1, -1)
    inside = (steps >= starts.unsqueeze(2)) & (steps < (starts + widths).unsqueeze(2))  # (batch, k, size)
    if starts.shape[1] == 0:
        return torch.zeros(starts.shape[0], size, dtype=torch.bool, device=starts.device)
    return inside.any(dim=1)


def mask_features(features: torch.Tensor, masks: FeatureMasks) -> torch.Tensor:
    """Set the masked bands of ``features`` ``(batch, frames, n_features)`` to 0 (a new tensor)."""
    _, frames, n_features = features.shape
    return features.masked_fill(masks.mask(frames, n_features, features.device), 0.0)


# --------------------------------------------------------------------------------------- random steps


class AudioAugmenter:
    """Draw and apply the audio ``data.augment`` steps, batch by batch, from one seeded generator.

    Args:
        steps: the ``data.augment`` list (``NoiseConfig``, ``ShiftConfig``, ``GainConfig``,
            ``SpecAugmentConfig``); waveform steps run in the listed order.
        sample_rate: of the waveforms, in Hz (converts ``shift.max_ms`` to samples).
        seed: seed of the generator.

    Raises:
        ConfigError: an image augmentation in ``steps``.
    """

    def __init__(self, steps: Sequence[_AnyStep], *, sample_rate: int, seed: int) -> None:
        audio: list[AudioStep] = []
        for step in steps:
            if not isinstance(step, AudioStep):
                raise ConfigError(
                    f"data.augment: '{step.name}' is an image augmentation; recordings take {', '.join(AUDIO_AUGMENTS)}"
                )
            audio.append(step)
        self.wave_steps: tuple[NoiseConfig | ShiftConfig | GainConfig, ...] = tuple(
            s for s in audio if not isinstance(s, SpecAugmentConfig)
        )
        self.feature_steps: tuple[SpecAugmentConfig, ...] = tuple(s for s in audio if isinstance(s, SpecAugmentConfig))
        self.sample_rate = sample_rate
        self.seed = seed
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(seed)

    def waveforms(self, waveforms: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Apply the waveform steps to ``(batch, samples)`` float32 with ``(batch,)`` lengths (``None``: full)."""
        batch, samples = waveforms.shape
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.int64)
        for step in self.wave_steps:
            if isinstance(step, NoiseConfig):
                apply = torch.rand(batch, generator=self.generator) < step.p
                snr = step.snr_db + step.snr_range * torch.rand(batch, generator=self.generator)
                noise = torch.randn(batch, samples, generator=self.generator)
                waveforms = add_noise(waveforms, lengths, noise, snr, apply)
            elif isinstance(step, ShiftConfig):
                most = round(step.max_ms * self.sample_rate / 1000)
                shifts = torch.randint(-most, most + 1, (batch,), generator=self.generator)
                waveforms = circular_shift(waveforms, lengths, shifts)
            else:
                gain = step.db * (2 * torch.rand(batch, generator=self.generator) - 1)
                waveforms = apply_gain(waveforms, gain)
        return waveforms

    def draw_masks(self, step: SpecAugmentConfig, frame_lengths: torch.Tensor, n_features: int) -> FeatureMasks:
        """Draw one SpecAugment step's masks for recordings of ``frame_lengths`` ``(batch,)`` frames."""
        batch = frame_lengths.shape[0]
        frames = frame_lengths.cpu().unsqueeze(1)
        time_widths = torch.randint(0, step.time_width + 1, (batch, step.time_masks), generator=self.generator)
        time_widths = torch.minimum(time_widths, frames)
        time_starts = (torch.rand(batch, step.time_masks, generator=self.generator) * (frames - time_widths + 1)).long()
        freq_widths = torch.randint(0, step.freq_width + 1, (batch, step.freq_masks), generator=self.generator)
        freq_widths = freq_widths.clamp(max=n_features)
        freq_starts = (
            torch.rand(batch, step.freq_masks, generator=self.generator) * (n_features - freq_widths + 1)
        ).long()
        return FeatureMasks(time_starts, time_widths, freq_starts, freq_widths)

    def features(self, features: torch.Tensor, frame_lengths: torch.Tensor) -> torch.Tensor:
        """Apply the SpecAugment steps to ``(batch, frames, n_features)`` with ``(batch,)`` frame lengths."""
        for step in self.feature_steps:
            features = mask_features(features, self.draw_masks(step, frame_lengths, features.shape[2]))
        return features

    def state_dict(self) -> dict[str, Any]:
        """The generator's state: ``{"generator": uint8 tensor}``."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the generator's state from :meth:`state_dict`."""
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        steps = ", ".join(repr(s) for s in (*self.wave_steps, *self.feature_steps))
        return f"AudioAugmenter([{steps}], sample_rate={self.sample_rate}, seed={self.seed})"
