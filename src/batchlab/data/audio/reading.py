"""Reading recordings: decode, mix down to mono, resample, trim silence, crop or pad.

Files are decoded by libsndfile (through ``soundfile``: WAV, FLAC, OGG/Vorbis and more) as float32 in
[-1, 1], and resampled with ``soxr`` (a band-limited resampler) to ``data.audio.sample_rate``. Every
recording then goes through the same steps, in this order:

1. channels: averaged to mono (``data.audio.channels: mix``), or an error naming the file (``error``);
2. resampling to the configured rate, when the file's rate differs (counted and logged once);
3. silence trim (``data.audio.trim_db``): leading and trailing frames whose RMS is more than
   ``trim_db`` below the loudest frame's are cut (frames of :data:`TRIM_FRAME_SECONDS`, hop
   :data:`TRIM_HOP_SECONDS`);
4. ``data.audio.max_seconds``: longer recordings keep their first ``max_seconds``;
5. ``data.audio.fixed_seconds``: every recording is cropped (its start kept) or zero-padded at the
   end to exactly that length.

An empty recording (no samples, or nothing left after the trim) is an error naming the file rather
than a silent drop, so that a dataset never shrinks without notice.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch

from batchlab.data.sequences.ragged import Ragged
from batchlab.errors import DataError

if TYPE_CHECKING:
    from batchlab.config import AudioConfig

__all__ = [
    "AUDIO_SUFFIXES",
    "TRIM_FRAME_SECONDS",
    "TRIM_HOP_SECONDS",
    "Recording",
    "duration_samples",
    "fit_length",
    "read_recording",
    "read_recordings",
    "require",
    "trim_silence",
]

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
"""File name endings read as recordings (case-insensitive)."""

TRIM_FRAME_SECONDS = 0.02
"""Frame length of the silence trim's RMS, in seconds."""

TRIM_HOP_SECONDS = 0.005
"""Hop between the silence trim's frames, in seconds (the trim's resolution)."""


def require(module: str) -> ModuleType:
    """Import an optional audio dependency, or fail with one line saying how to install it.

    Args:
        module: ``"soundfile"``, ``"soxr"``, ``"librosa"`` (or a submodule such as ``"librosa.filters"``).

    Raises:
        DataError: the module is not installed.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(
            f"audio data needs the '{module.split('.')[0]}' package, which is not installed; "
            "install the audio extra: pip install 'batchlab[audio]'"
        ) from None


@dataclass(frozen=True)
class Recording:
    """One decoded recording.

    Attributes:
        waveform: mono samples at the configured rate, ``(samples,)`` float32.
        source_rate: the file's own sample rate, in Hz (before resampling).
    """

    waveform: np.ndarray
    source_rate: int


def read_recording(path: Path, audio: AudioConfig, *, field: str = "data.source") -> Recording:
    """Read one file and apply the module's steps (mono, resample, trim, crop, pad).

    Args:
        path: the audio file.
        audio: the ``data.audio`` settings.
        field: the config field that named the data, for error messages.

    Returns:
        The :class:`Recording`.

    Raises:
        DataError: the file cannot be decoded, has no samples (also after the trim), or has several
            channels while ``data.audio.channels`` is ``error``.
    """
    sf = require("soundfile")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (frames, channels)
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        reason = getattr(exc, "error_string", None) or str(exc).splitlines()[0]
        raise DataError(f"{field}: recording '{path}' cannot be read ({reason})") from None
    if data.shape[0] == 0:
        raise DataError(f"{field}: recording '{path}' is empty (0 samples); remove it or replace it")
    channels = data.shape[1]
    if channels > 1 and audio.channels == "error":
        raise DataError(
            f"data.audio.channels: recording '{path}' has {channels} channels and data.audio.channels is 'error'; "
            "convert it to mono, or set data.audio.channels: mix to average the channels"
        )
    waveform = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float32)
    if rate != audio.sample_rate:
        soxr = require("soxr")
        waveform = soxr.resample(waveform, rate, audio.sample_rate, quality="HQ")
    if audio.trim_db is not None:
        waveform = trim_silence(waveform, audio.sample_rate, top_db=audio.trim_db)
        if waveform.size == 0:
            raise DataError(
                f"data.audio.trim_db: recording '{path}' is silent, so the trim leaves no samples; "
                "remove it, or unset data.audio.trim_db"
            )
    if audio.max_seconds is not None:
        waveform = waveform[: duration_samples(audio.max_seconds, audio.sample_rate)]
    if audio.fixed_seconds is not None:
        waveform = fit_length(waveform, duration_samples(audio.fixed_seconds, audio.sample_rate))
    return Recording(np.ascontiguousarray(waveform, dtype=np.float32), int(rate))


def read_recordings(paths: Sequence[Path], audio: AudioConfig, *, field: str = "data.source") -> Ragged:
    """Read many files (see :func:`read_recording`) into one :class:`Ragged` of waveforms.

    Logs, once, how many recordings were resampled and from which rates, and warns, once, about
    recordings shorter than one analysis window (``data.audio.win_ms``).

    Args:
        paths: the audio files, in the order wanted.
        audio: the ``data.audio`` settings.
        field: the config field that named the data, for error messages.

    Returns:
        ``len(paths)`` waveforms, float32, at ``audio.sample_rate``; ``values`` is ``(total_samples,)``.

    Raises:
        DataError: as :func:`read_recording`.
    """
    waveforms: list[torch.Tensor] = []
    rates: Counter[int] = Counter()
    window = duration_samples(audio.win_ms / 1000, audio.sample_rate)
    short: list[tuple[int, Path]] = []  # (samples, path) of recordings shorter than one analysis window
    for path in paths:  # decoding is per file; 2,700 short WAVs take about half a second
        recording = read_recording(path, audio, field=field)
        waveforms.append(torch.from_numpy(recording.waveform))
        rates[recording.source_rate] += 1
        if recording.waveform.size < window:
            short.append((recording.waveform.size, path))
    if short:
        samples, shortest = min(short)
        logger.warning(
            "%d of %d recordings are shorter than one %g ms analysis window (data.audio.win_ms), so their "
            "features are mostly padding (a truncated or empty file?); the shortest: '%s' (%.1f ms)",
            len(short),
            len(paths),
            audio.win_ms,
            shortest,
            1000 * samples / audio.sample_rate,
        )
    resampled = {rate: count for rate, count in rates.items() if rate != audio.sample_rate}
    if resampled:
        origins = ", ".join(f"{count} from {rate} Hz" for rate, count in sorted(resampled.items()))
        logger.info(
            "resampled %d of %d recordings to %d Hz (%s)",
            sum(resampled.values()),
            len(paths),
            audio.sample_rate,
            origins,
        )
    return Ragged.from_sequences(waveforms, dtype=torch.float32)


def trim_silence(waveform: np.ndarray, sample_rate: int, *, top_db: float) -> np.ndarray:
    """Cut leading and trailing audio whose RMS is more than ``top_db`` below the loudest frame's.

    Frames of :data:`TRIM_FRAME_SECONDS` start every :data:`TRIM_HOP_SECONDS`; the kept span runs
    from the first loud frame's start to the last loud frame's end. Quiet stretches inside the
    recording are kept.

    Args:
        waveform: mono samples, ``(samples,)``.
        sample_rate: in Hz.
        top_db: threshold below the loudest frame, in dB (> 0).

    Returns:
        A view of ``waveform``, ``(kept_samples,)``; empty when every sample is 0.

    Example:
        >>> x = np.concatenate([np.zeros(800), np.ones(400), np.zeros(800)]).astype(np.float32)
        >>> trim_silence(x, 8000, top_db=30).shape  # the 400 loud samples and the frames overlapping them
        (640,)
    """
    frame = max(1, round(TRIM_FRAME_SECONDS * sample_rate))
    hop = max(1, round(TRIM_HOP_SECONDS * sample_rate))
    n = waveform.shape[0]
    if n == 0:
        return waveform
    starts = np.arange(0, max(n - frame, 0) + 1, hop)
    power = np.concatenate([[0.0], np.cumsum(waveform.astype(np.float64) ** 2)])
    ends = np.minimum(starts + frame, n)
    rms_sq = (power[ends] - power[starts]) / (ends - starts)  # mean power of each frame
    peak = rms_sq.max()
    if peak <= 0:
        return waveform[:0]
    loud = np.flatnonzero(rms_sq >= peak * 10.0 ** (-top_db / 10.0))
    return waveform[int(starts[loud[0]]) : int(ends[loud[-1]])]


def fit_length(waveform: np.ndarray, samples: int) -> np.ndarray:
    """``waveform`` cropped to its first ``samples`` or zero-padded at the end to exactly ``samples``."""
    if waveform.shape[0] >= samples:
        return waveform[:samples]
    return np.concatenate([waveform, np.zeros(samples - waveform.shape[0], dtype=waveform.dtype)])


def duration_samples(seconds: float, sample_rate: int) -> int:
    """A duration in whole samples (at least 1), as ``max_seconds`` and ``fixed_seconds`` cut recordings."""
    return max(1, math.floor(seconds * sample_rate + 0.5))
