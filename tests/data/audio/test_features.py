"""Tests of batchlab.data.audio.features: log-mel against librosa, MFCC, frame convention, padding, band stats."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

from batchlab.data.audio.features import LOG_EPS, FeatureSettings, Featurizer, fit_band_stats
from batchlab.data.sequences.ragged import Ragged
from tests.data.audio.conftest import tone

librosa = pytest.importorskip("librosa")

RATE = 8000
LOGMEL = FeatureSettings(RATE, "logmel", 40, 20, 25.0, 10.0)
MFCC = FeatureSettings(RATE, "mfcc", 40, 13, 25.0, 10.0)


def _noise(samples: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(samples).astype(np.float32) * 0.1)


def test_settings_in_samples() -> None:
    assert (LOGMEL.win_length, LOGMEL.hop_length, LOGMEL.n_fft) == (200, 80, 256)
    assert FeatureSettings(16000, "logmel", 40, 20, 25.0, 10.0).n_fft == 512  # 400-sample window
    assert FeatureSettings(16000, "logmel", 40, 20, 32.0, 10.0).n_fft == 512  # exactly a power of two
    assert (LOGMEL.n_features, MFCC.n_features) == (40, 13)
    assert LOGMEL.frames(3000) == 38 and LOGMEL.frames(80) == 2
    assert FeatureSettings.from_dict(MFCC.to_dict()) == MFCC


def test_logmel_matches_librosa_centred_mel_spectrogram() -> None:
    x = _noise(3001)
    features, frames = Featurizer(LOGMEL)(x.unsqueeze(0), torch.tensor([3001]))
    reference = librosa.feature.melspectrogram(
        y=x.numpy(),
        sr=RATE,
        n_fft=256,
        hop_length=80,
        win_length=200,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=40,
    )
    assert frames.tolist() == [reference.shape[1]] == [1 + 3001 // 80]
    np.testing.assert_allclose(features[0].numpy(), np.log(reference + LOG_EPS).T, atol=1e-4)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_logmel_of_a_pure_tone_peaks_in_the_band_centred_nearest_it(freq: float) -> None:
    features, _ = Featurizer(LOGMEL)(torch.from_numpy(tone(freq, 0.5, RATE)).unsqueeze(0))
    centres = librosa.mel_frequencies(n_mels=40 + 2, fmin=0.0, fmax=RATE / 2)[1:-1]  # triangle peaks
    loudest = int(features[0, 5:-5].mean(0).argmax())
    assert abs(loudest - int(np.argmin(np.abs(centres - freq)))) <= 1
    assert abs(centres[loudest] - freq) < 0.1 * freq + 60


def test_mfcc_is_the_orthonormal_dct_of_the_log_mel() -> None:
    x = _noise(4000, seed=1).unsqueeze(0)
    logmel, _ = Featurizer(FeatureSettings(RATE, "logmel", 40, 13, 25.0, 10.0))(x)
    mfcc, _ = Featurizer(MFCC)(x)
    expected = scipy.fft.dct(logmel[0].double().numpy(), type=2, norm="ortho", axis=-1)[:, :13]
    assert mfcc.shape == (1, 51, 13)
    np.testing.assert_allclose(mfcc[0].numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("settings", [LOGMEL, MFCC], ids=["logmel", "mfcc"])
def test_features_of_a_recording_do_not_depend_on_its_batch(settings: FeatureSettings) -> None:
    featurize = Featurizer(
        settings, torch.linspace(-3, 3, settings.n_features), torch.linspace(1, 2, settings.n_features)
    )
    short, long = _noise(2345, seed=2), _noise(6000, seed=3)
    alone, alone_frames = featurize(short.unsqueeze(0), torch.tensor([2345]))
    batch = torch.stack([torch.cat([short, torch.full((6000 - 2345,), 0.7)]), long])  # non-zero padding
    together, frames = featurize(batch, torch.tensor([2345, 6000]))
    n = int(alone_frames[0])
    assert frames.tolist() == [n, 1 + 6000 // 80]
    torch.testing.assert_close(together[0, :n], alone[0], atol=1e-4, rtol=1e-5)
    assert not together[0, n:].any()  # frames past the recording are exactly 0


def test_lengths_none_means_full_recordings() -> None:
    x = torch.stack([_noise(1600, seed=4), _noise(1600, seed=5)])
    featurize = Featurizer(LOGMEL)
    full, frames = featurize(x)
    explicit, _ = featurize(x, torch.tensor([1600, 1600]))
    assert frames.tolist() == [21, 21] and torch.equal(full, explicit)


def test_features_stay_float32_inside_autocast() -> None:
    x = _noise(3000).unsqueeze(0)
    featurize = Featurizer(MFCC)
    expected, _ = featurize(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside, _ = featurize(x)
    assert inside.dtype == torch.float32 and torch.equal(inside, expected)


def test_band_normalization_gives_zero_mean_unit_std_on_training_frames() -> None:
    rng = np.random.default_rng(6)
    waves = Ragged.from_sequences(
        [
            torch.from_numpy(rng.standard_normal(n).astype(np.float32) * s)
            for n, s in [(900, 0.1), (2500, 0.5), (1700, 1)]
        ]
    )
    mean, std = fit_band_stats(Featurizer(LOGMEL), waves, batch_size=2)
    assert mean.shape == (40,) and std.shape == (40,) and np.all(std > 0)
    normalized = Featurizer(LOGMEL, mean, std)
    padded, lengths = waves.pad(torch.arange(3))
    features, frames = normalized(padded, lengths)
    valid = torch.cat([features[i, : int(frames[i])] for i in range(3)]).double()
    torch.testing.assert_close(valid.mean(0), torch.zeros(40, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(valid.std(0, unbiased=False), torch.ones(40, dtype=torch.float64), atol=1e-3, rtol=0)
    assert not features[0, int(frames[0]) :].any()  # padding stays 0 after normalization


def test_band_stats_ignore_padding_and_batching() -> None:
    waves = Ragged.from_sequences([_noise(900, seed=7), _noise(4000, seed=8) * 3])
    one = fit_band_stats(Featurizer(LOGMEL), waves, batch_size=1)
    two = fit_band_stats(Featurizer(LOGMEL), waves, batch_size=2)
    np.testing.assert_allclose(one[0], two[0], atol=1e-5)
    np.testing.assert_allclose(one[1], two[1], atol=1e-5)


def test_a_constant_band_is_only_centred() -> None:
    featurize = Featurizer(LOGMEL, np.full(40, 2.0), np.zeros(40))
    assert featurize.band_std is not None and torch.equal(featurize.band_std, torch.ones(40))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_featurizer_runs_on_the_batch_device() -> None:
    featurize = Featurizer(MFCC).to("cuda")
    features, frames = featurize(_noise(3000).unsqueeze(0).cuda(), torch.tensor([3000], device="cuda"))
    cpu, _ = Featurizer(MFCC)(_noise(3000).unsqueeze(0))
    assert features.device.type == "cuda" and frames.device.type == "cuda"
    torch.testing.assert_close(features.cpu(), cpu, atol=1e-3, rtol=1e-4)
