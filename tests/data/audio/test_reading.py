"""Tests of batchlab.data.audio.reading: decoding, resampling, mixdown, trim, crop/pad and bad files."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from batchlab.config import AudioConfig
from batchlab.data.audio.reading import fit_length, read_recording, read_recordings, require, trim_silence
from batchlab.errors import DataError
from tests.data.audio.conftest import WriteWav, tone


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def test_reads_float32_mono_at_the_file_rate(tmp_path: Path, write_wav: WriteWav) -> None:
    samples = tone(440, 0.25, 8000)
    path = write_wav(tmp_path / "a.wav", samples, subtype="FLOAT")
    recording = read_recording(path, AudioConfig(sample_rate=8000))
    assert recording.waveform.dtype == np.float32 and recording.waveform.shape == (2000,)
    assert recording.source_rate == 8000
    np.testing.assert_array_equal(recording.waveform, samples)


def test_resampling_changes_the_rate_and_keeps_a_tone_at_its_frequency(tmp_path: Path, write_wav: WriteWav) -> None:
    path = write_wav(tmp_path / "a.wav", tone(440, 0.5, 16000), rate=16000)
    recording = read_recording(path, AudioConfig(sample_rate=8000))
    assert recording.source_rate == 16000
    assert recording.waveform.shape == (4000,)  # half the samples: really at 8 kHz
    assert abs(_peak_hz(recording.waveform, 8000) - 440) < 4
    # a naive reinterpretation of the 16 kHz samples at 8 kHz would put the peak at 220 Hz
    assert abs(_peak_hz(tone(440, 0.5, 16000), 8000) - 220) < 4


def test_upsampling_keeps_amplitude_and_frequency(tmp_path: Path, write_wav: WriteWav) -> None:
    path = write_wav(tmp_path / "a.wav", tone(1000, 0.5, 8000, amplitude=0.5), rate=8000, subtype="FLOAT")
    wave = read_recording(path, AudioConfig(sample_rate=22050)).waveform
    assert wave.shape == (11025,)
    assert abs(_peak_hz(wave, 22050) - 1000) < 5
    assert np.sqrt(np.mean(wave[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resampling_is_logged_once_with_counts_and_rates(
    tmp_path: Path, write_wav: WriteWav, caplog: pytest.LogCaptureFixture
) -> None:
    paths = [
        write_wav(tmp_path / "a.wav", tone(440, 0.1, 16000), rate=16000),
        write_wav(tmp_path / "b.wav", tone(440, 0.1, 16000), rate=16000),
        write_wav(tmp_path / "c.wav", tone(440, 0.1, 11025), rate=11025),
        write_wav(tmp_path / "d.wav", tone(440, 0.1, 8000), rate=8000),
    ]
    with caplog.at_level(logging.INFO, logger="batchlab.data.audio.reading"):
        waves = read_recordings(paths, AudioConfig(sample_rate=8000))
    assert waves.lengths.tolist() == [800, 800, 800, 800]
    messages = [r.getMessage() for r in caplog.records if "resampled" in r.getMessage()]
    assert messages == ["resampled 3 of 4 recordings to 8000 Hz (1 from 11025 Hz, 2 from 16000 Hz)"]


def test_stereo_is_mixed_down_to_the_channel_mean(tmp_path: Path, write_wav: WriteWav) -> None:
    left, right = tone(300, 0.2, 8000, 0.4), tone(700, 0.2, 8000, 0.2)
    path = write_wav(tmp_path / "s.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    wave = read_recording(path, AudioConfig(sample_rate=8000, channels="mix")).waveform
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-7)


def test_stereo_with_channels_error_names_the_file(tmp_path: Path, write_wav: WriteWav) -> None:
    path = write_wav(tmp_path / "s.wav", np.zeros((100, 2), dtype=np.float32))
    with pytest.raises(DataError) as info:
        read_recording(path, AudioConfig(sample_rate=8000, channels="error"))
    message = str(info.value)
    assert "\n" not in message
    assert f"'{path}' has 2 channels" in message and "data.audio.channels: mix" in message


def test_corrupt_header_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk-that-is-no-chunk")
    with pytest.raises(DataError, match=r"^data\.source: recording '.*broken\.wav' cannot be read \(.+\)$"):
        read_recording(path, AudioConfig(sample_rate=8000))


def test_zero_length_recording_names_the_file(tmp_path: Path, write_wav: WriteWav) -> None:
    path = write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(DataError, match=r"recording '.*empty\.wav' is empty \(0 samples\)"):
        read_recordings([path], AudioConfig(sample_rate=8000), field="input")


def test_trim_cuts_leading_and_trailing_silence_only(tmp_path: Path, write_wav: WriteWav) -> None:
    quiet = np.zeros(4000, dtype=np.float32)
    gap = np.zeros(800, dtype=np.float32)
    burst = tone(500, 0.1, 8000)
    path = write_wav(tmp_path / "a.wav", np.concatenate([quiet, burst, gap, burst, quiet]), subtype="FLOAT")
    wave = read_recording(path, AudioConfig(sample_rate=8000, trim_db=30)).waveform
    # the two bursts and the gap between them stay; at most one trim frame (160 samples) of margin per side
    assert 2400 <= wave.shape[0] <= 2400 + 2 * 160
    untrimmed = read_recording(path, AudioConfig(sample_rate=8000)).waveform
    assert untrimmed.shape == (10400,)


def test_trim_of_a_silent_recording_names_the_file(tmp_path: Path, write_wav: WriteWav) -> None:
    path = write_wav(tmp_path / "silent.wav", np.zeros(800, dtype=np.float32))
    with pytest.raises(DataError, match=r"data\.audio\.trim_db: recording '.*silent\.wav' is silent"):
        read_recording(path, AudioConfig(sample_rate=8000, trim_db=40))


def test_trim_threshold_is_relative_to_the_loudest_frame() -> None:
    loud, soft = tone(500, 0.1, 8000, 0.5), tone(500, 0.1, 8000, 0.005)  # soft is 40 dB below loud
    x = np.concatenate([soft, loud])
    assert trim_silence(x, 8000, top_db=30).shape[0] < 800 + 160  # soft part counts as silence
    assert trim_silence(x, 8000, top_db=50).shape[0] == 1600  # soft part is kept


def test_max_seconds_crops_and_fixed_seconds_crops_or_pads(tmp_path: Path, write_wav: WriteWav) -> None:
    samples = tone(440, 0.5, 8000)
    path = write_wav(tmp_path / "a.wav", samples, subtype="FLOAT")
    cropped = read_recording(path, AudioConfig(sample_rate=8000, max_seconds=0.2)).waveform
    np.testing.assert_array_equal(cropped, samples[:1600])
    padded = read_recording(path, AudioConfig(sample_rate=8000, fixed_seconds=0.75)).waveform
    assert padded.shape == (6000,)
    np.testing.assert_array_equal(padded[:4000], samples)
    assert not padded[4000:].any()
    assert fit_length(samples, 100).shape == (100,)


def test_a_missing_extra_is_one_line_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "soxr", None)  # a None entry makes ``import soxr`` fail
    with pytest.raises(DataError, match=r"^audio data needs the 'soxr' package.*pip install 'batchlab\[audio\]'$"):
        require("soxr")


def test_recordings_shorter_than_an_analysis_window_are_warned_about_once(
    tmp_path: Path, write_wav: WriteWav, caplog: pytest.LogCaptureFixture
) -> None:
    paths = [
        write_wav(tmp_path / "ok.wav", tone(440, 0.1, 8000), rate=8000),
        write_wav(tmp_path / "cut.wav", tone(440, 0.01, 8000), rate=8000),  # 80 samples < 200 (25 ms)
        write_wav(tmp_path / "tiny.wav", np.zeros(5, dtype=np.float32), rate=8000),
    ]
    with caplog.at_level(logging.WARNING, logger="batchlab.data.audio.reading"):
        waves = read_recordings(paths, AudioConfig(sample_rate=8000, win_ms=25))
    assert waves.lengths.tolist() == [800, 80, 5]  # still read: a warning, not an error
    messages = [r.getMessage() for r in caplog.records if "analysis window" in r.getMessage()]
    assert len(messages) == 1
    assert messages[0].startswith("2 of 3 recordings are shorter than one 25 ms analysis window")
    assert f"'{paths[2]}' (0.6 ms)" in messages[0]
