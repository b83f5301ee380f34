"""Tests of batchlab.data.audio.augment: each augmentation changes what it should and nothing else."""

from __future__ import annotations

import pytest
import torch

from batchlab.config import CropConfig, GainConfig, NoiseConfig, ShiftConfig, SpecAugmentConfig
from batchlab.data.audio.augment import (
    AudioAugmenter,
    FeatureMasks,
    add_noise,
    apply_gain,
    circular_shift,
    mask_features,
)
from batchlab.errors import ConfigError

LENGTHS = torch.tensor([4000, 2500, 1000])


def _batch(seed: int = 0) -> torch.Tensor:
    """``(3, 4000)`` waveforms of different loudness, zero past ``LENGTHS``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 4000, generator=g) * torch.tensor([[0.5], [0.05], [1.0]])
    return x.masked_fill(torch.arange(4000) >= LENGTHS.unsqueeze(1), 0.0)


def _snr_db(clean: torch.Tensor, noisy: torch.Tensor, length: int) -> float:
    signal, noise = clean[:length], noisy[:length] - clean[:length]
    return float(10 * torch.log10(signal.square().mean() / noise.square().mean()))


def test_noise_reaches_the_drawn_snr_over_each_recordings_valid_samples() -> None:
    x = _batch()
    snr = torch.tensor([20.0, 5.0, 35.0])
    noisy = add_noise(x, LENGTHS, torch.randn(3, 4000), snr, torch.tensor([True, True, True]))
    for i in range(3):
        assert _snr_db(x[i], noisy[i], int(LENGTHS[i])) == pytest.approx(float(snr[i]), abs=0.01)
        assert not noisy[i, int(LENGTHS[i]) :].any()  # padding untouched


def test_noise_step_draws_snr_in_range_with_probability_p() -> None:
    x = _batch()
    augment = AudioAugmenter([NoiseConfig(snr_db=10, snr_range=10, p=1.0)], sample_rate=8000, seed=1)
    noisy = augment.waveforms(x, LENGTHS)
    snrs = [_snr_db(x[i], noisy[i], int(LENGTHS[i])) for i in range(3)]
    assert all(10 - 0.01 <= s <= 20 + 0.01 for s in snrs) and len({round(s, 3) for s in snrs}) == 3
    never = AudioAugmenter([NoiseConfig(p=0.0)], sample_rate=8000, seed=1)
    assert torch.equal(never.waveforms(x, LENGTHS), x)


def test_shift_is_circular_within_the_valid_length() -> None:
    x = _batch()
    shifts = torch.tensor([100, -30, 1250])  # 1250 > length 1000: wraps to 250
    out = circular_shift(x, LENGTHS, shifts)
    for i in range(3):
        n = int(LENGTHS[i])
        torch.testing.assert_close(out[i, :n], torch.roll(x[i, :n], int(shifts[i])), rtol=0, atol=0)
        assert not out[i, n:].any()


def test_shift_step_moves_by_at_most_max_ms() -> None:
    x = torch.zeros(3, 4000)
    x[:, 500] = 1.0  # one click per recording, at sample 500
    augment = AudioAugmenter([ShiftConfig(max_ms=25)], sample_rate=8000, seed=2)  # at most 200 samples
    out = augment.waveforms(x, LENGTHS)
    moved = out.argmax(dim=1) - 500
    assert torch.all(moved.abs() <= 200) and moved.unique().numel() > 1
    assert torch.equal(out.sum(dim=1), torch.ones(3))  # the click moved, nothing else appeared


def test_gain_scales_by_the_drawn_decibels() -> None:
    x = _batch()
    out = apply_gain(x, torch.tensor([6.0, -20.0, 0.0]))
    torch.testing.assert_close(out, x * torch.tensor([[10 ** (6 / 20)], [0.1], [1.0]]))
    augment = AudioAugmenter([GainConfig(db=3)], sample_rate=8000, seed=3)
    ratio = augment.waveforms(x, LENGTHS)[:, 0] / x[:, 0]
    assert torch.all(20 * torch.log10(ratio).abs() <= 3 + 1e-4)


def test_specaugment_zeroes_exactly_the_drawn_bands() -> None:
    step = SpecAugmentConfig(time_masks=2, time_width=5, freq_masks=2, freq_width=6)
    frame_lengths = torch.tensor([50, 20, 3])
    features = torch.rand(3, 50, 40) + 1.0  # nowhere 0
    features[1, 20:], features[2, 3:] = 0.0, 0.0  # padding
    augment = AudioAugmenter([step], sample_rate=8000, seed=4)
    state = augment.state_dict()
    out = augment.features(features, frame_lengths)
    augment.load_state_dict(state)
    masks = augment.draw_masks(step, frame_lengths, 40)
    expected = masks.mask(50, 40) | (features == 0)
    assert torch.equal(out == 0, expected)
    assert torch.equal(out[~expected], features[~expected])  # everything else untouched
    assert torch.all(masks.time_widths <= torch.minimum(torch.tensor(5), frame_lengths.unsqueeze(1)))
    assert torch.all(masks.time_starts + masks.time_widths <= frame_lengths.unsqueeze(1))  # within valid frames
    assert torch.all(masks.freq_starts + masks.freq_widths <= 40) and torch.all(masks.freq_widths <= 6)
    assert bool(masks.time_widths.sum()) and bool(masks.freq_widths.sum())


def test_mask_features_of_given_bands() -> None:
    masks = FeatureMasks(
        time_starts=torch.tensor([[1]]),
        time_widths=torch.tensor([[2]]),
        freq_starts=torch.tensor([[0, 3]]),
        freq_widths=torch.tensor([[1, 0]]),
    )
    out = mask_features(torch.ones(1, 4, 4), masks)
    assert out[0].tolist() == [[0, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 1, 1]]


def test_the_same_generator_state_gives_the_same_augmentation() -> None:
    steps = [NoiseConfig(p=0.5), ShiftConfig(), GainConfig(), SpecAugmentConfig()]
    one = AudioAugmenter(steps, sample_rate=8000, seed=5)
    two = AudioAugmenter(steps, sample_rate=8000, seed=5)
    x = _batch()
    first = one.waveforms(x, LENGTHS)
    assert torch.equal(first, two.waveforms(x, LENGTHS))
    assert not torch.equal(one.waveforms(x, LENGTHS), first)  # the generator has moved on


def test_image_augmentations_are_rejected_for_audio() -> None:
    with pytest.raises(ConfigError, match=r"^data\.augment: 'crop' is an image augmentation; recordings take"):
        AudioAugmenter([CropConfig()], sample_rate=8000, seed=0)
