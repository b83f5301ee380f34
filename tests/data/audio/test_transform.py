"""Tests of batchlab.data.audio.transform: seeding per batch, featurizing, padding invariance, eval transform."""

from __future__ import annotations

import pytest
import torch

from batchlab.config import GainConfig, NoiseConfig, ShiftConfig, SpecAugmentConfig
from batchlab.data.audio.augment import AudioAugmenter
from batchlab.data.audio.features import FeatureSettings, Featurizer
from batchlab.data.audio.preprocessor import AudioPreprocessor
from batchlab.data.audio.transform import AudioTransform, audio_transforms
from batchlab.data.batch import Batch
from batchlab.data.sequences.ragged import Ragged
from batchlab.errors import ConfigError

SETTINGS = FeatureSettings(8000, "logmel", 40, 20, 25.0, 10.0)
STEPS = [NoiseConfig(p=0.5), ShiftConfig(max_ms=50), GainConfig(db=6), SpecAugmentConfig()]


def _batch() -> Batch:
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([4000, 2500, 1234])
    x = (0.3 * torch.randn(3, 4000, generator=g)).masked_fill(torch.arange(4000) >= lengths.unsqueeze(1), 0.0)
    return Batch(x, torch.tensor([0, 1, 2]), lengths)


def _train(seed: int = 0) -> AudioTransform:
    return AudioTransform(Featurizer(SETTINGS), AudioAugmenter(STEPS, sample_rate=8000, seed=seed), seed=seed)


def test_waveform_batch_becomes_a_feature_batch() -> None:
    batch = _batch()
    out = _train()(batch, epoch=0, index=0)
    assert out.x.shape == (3, 51, 40) and out.x.dtype == torch.float32
    assert out.lengths is not None and out.lengths.tolist() == [51, 32, 16]
    assert out.y is batch.y
    assert not out.x[2, 16:].any()  # padding frames stay 0 after augmentation


def test_same_seed_epoch_and_index_give_identical_output() -> None:
    first = _train()(_batch(), epoch=2, index=5)
    again = _train()(_batch(), epoch=2, index=5)  # a fresh transform, as after a resume
    assert torch.equal(first.x, again.x)
    reused = _train()
    reused(_batch(), epoch=0, index=0)  # earlier batches do not change a later one
    assert torch.equal(reused(_batch(), epoch=2, index=5).x, first.x)


def test_other_index_epoch_or_seed_give_other_output() -> None:
    base = _train()(_batch(), epoch=1, index=3).x
    assert not torch.equal(_train()(_batch(), epoch=1, index=4).x, base)
    assert not torch.equal(_train()(_batch(), epoch=2, index=3).x, base)
    assert not torch.equal(_train(seed=1)(_batch(), epoch=1, index=3).x, base)


def test_eval_transform_only_featurizes() -> None:
    featurizer = Featurizer(SETTINGS)
    batch = _batch()
    out = AudioTransform(featurizer)(batch)
    features, frames = featurizer(batch.x, batch.lengths)
    assert torch.equal(out.x, features) and out.lengths is not None and torch.equal(out.lengths, frames)
    assert torch.equal(AudioTransform(featurizer)(batch, epoch=3, index=9).x, out.x)


def test_features_of_a_recording_alone_equal_those_in_a_padded_batch() -> None:
    transform = AudioTransform(Featurizer(SETTINGS, torch.zeros(40), torch.full((40,), 2.0)))
    batch = _batch()
    together = transform(batch)
    assert together.lengths is not None
    for i in range(3):
        n = int(batch.lengths[i]) if batch.lengths is not None else 0
        alone = transform(Batch(batch.x[i : i + 1, :n], batch.y[i : i + 1], None))
        frames = int(together.lengths[i])
        assert alone.x.shape[1] == frames
        torch.testing.assert_close(together.x[i, :frames], alone.x[0], atol=1e-4, rtol=1e-5)


def test_fixed_length_batches_carry_no_lengths() -> None:
    batch = Batch(torch.randn(2, 800), torch.tensor([0, 1]), None)
    out = AudioTransform(Featurizer(SETTINGS), variable_length=False)(batch)
    assert out.lengths is None and out.x.shape == (2, 11, 40)


def test_a_batch_that_is_not_waveforms_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"waveform batches \(batch, samples\), got a torch\.float32 batch of shape"):
        AudioTransform(Featurizer(SETTINGS))(Batch(torch.zeros(2, 10, 40), torch.tensor([0, 1])))


def test_a_runs_transforms_share_the_fitted_featurizer() -> None:
    waves = Ragged.from_sequences([0.1 * torch.randn(2000), 0.3 * torch.randn(3000)])
    pre = AudioPreprocessor(sample_rate=8000).fit(waves, ["a", "b"])
    train, evaluate = audio_transforms(pre, STEPS, seed=3)
    assert train.featurizer is evaluate.featurizer and train.featurizer.normalized
    assert train.augmenter is not None and evaluate.augmenter is None and train.seed == 3
    assert audio_transforms(pre, [], seed=3)[0].augmenter is None
    fixed = AudioPreprocessor(sample_rate=8000, fixed_seconds=0.4).fit(waves, ["a", "b"])
    assert not any(t.variable_length for t in audio_transforms(fixed, STEPS, seed=0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_the_transform_runs_on_the_batch_device_with_device_independent_draws() -> None:
    cpu = _train()(_batch(), epoch=0, index=1)
    gpu = _train()(_batch().to(torch.device("cuda")), epoch=0, index=1)
    assert gpu.x.device.type == "cuda"
    torch.testing.assert_close(gpu.x.cpu(), cpu.x, atol=1e-3, rtol=1e-3)
