"""Tests of batchlab.data.audio.preprocessor: fitting, label encoding, input spec and the JSON state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from batchlab.data.audio.preprocessor import AudioPreprocessor, sorted_classes
from batchlab.data.sequences.ragged import Ragged
from batchlab.errors import CheckpointError, DataError
from batchlab.inputs import InputSpec


def _waves(*lengths: int) -> Ragged:
    rng = np.random.default_rng(0)
    return Ragged.from_sequences([torch.from_numpy(rng.standard_normal(n).astype(np.float32)) for n in lengths])


def test_classes_sort_numbers_numerically_and_text_alphabetically() -> None:
    assert sorted_classes(["10", "9", "2", "9"]) == ["2", "9", "10"]
    assert sorted_classes(["yes", "no", "Up"]) == ["Up", "no", "yes"]
    assert sorted_classes(["1", "a"]) == ["1", "a"]


def test_fit_learns_classes_band_statistics_and_the_input_spec() -> None:
    pre = AudioPreprocessor(sample_rate=8000, features="mfcc", n_mfcc=13).fit(_waves(800, 2400, 1600), ["10", "9", "9"])
    assert pre.task_ == "classification" and pre.classes_ == ["9", "10"]
    assert pre.band_mean_ is not None and pre.band_mean_.shape == (13,)
    assert pre.band_std_ is not None and pre.band_std_.shape == (13,)
    assert pre.max_frames_ == 1 + 2400 // 80
    assert pre.input_spec_ == InputSpec("frames", (13,), max_length=31, variable_length=True)
    fixed = AudioPreprocessor(sample_rate=8000, fixed_seconds=0.3).fit(_waves(2400, 2400), ["a", "b"])
    assert fixed.input_spec_.variable_length is False and fixed.input_spec_.shape == (40,)


def test_max_seconds_sizes_the_input_for_any_recording_read_with_it() -> None:
    # training recordings of at most 0.3 s; max_seconds 0.5 lets held-out ones reach 0.5 s (4000 samples)
    pre = AudioPreprocessor(sample_rate=8000, normalize="none", max_seconds=0.5).fit(_waves(800, 2400), ["a", "b"])
    assert pre.max_frames_ == 1 + 4000 // 80
    back = AudioPreprocessor.from_state(json.loads(json.dumps(pre.state_dict())))
    assert back.max_seconds == 0.5 and back.max_frames_ == pre.max_frames_
    old = pre.state_dict()
    del old["settings"]["max_seconds"]  # a state saved before the setting existed still loads
    assert AudioPreprocessor.from_state(old).max_seconds is None


def test_no_band_statistics_without_normalization() -> None:
    pre = AudioPreprocessor(sample_rate=8000, normalize="none").fit(_waves(800, 900), ["a", "b"])
    assert pre.band_mean_ is None and not pre.featurizer().normalized


def test_a_single_training_class_is_an_error() -> None:
    with pytest.raises(DataError, match=r"a single class 'recordings'; classification needs at least 2"):
        AudioPreprocessor(sample_rate=8000).fit(_waves(800, 900), ["recordings", "recordings"])


def test_encode_labels_and_unseen_labels() -> None:
    pre = AudioPreprocessor(sample_rate=8000, normalize="none").fit(_waves(800, 900, 900), ["b", "a", "c"])
    codes = pre.encode_labels(["c", "a", "a"])
    assert codes.dtype == torch.int64 and codes.tolist() == [2, 0, 0]
    with pytest.raises(DataError, match=r"^input 'new/': label 'd' is not a class of the training recordings; known"):
        pre.encode_labels(["a", "d"], where="input 'new/'")


def test_state_round_trips_through_json_and_gives_the_same_features() -> None:
    pre = AudioPreprocessor(sample_rate=8000, n_mels=32, win_ms=30, hop_ms=12).fit(_waves(900, 3000), ["x", "y"])
    state = json.loads(json.dumps(pre.state_dict()))
    assert state["kind"] == "audio"
    back = AudioPreprocessor.from_state(state)
    assert back.state_dict() == pre.state_dict()
    assert back.input_spec_ == pre.input_spec_ and back.classes_ == pre.classes_
    batch, lengths = _waves(900, 3000).pad(torch.tensor([0, 1]))
    expected, _ = pre.featurizer()(batch, lengths)
    got, _ = back.featurizer(torch.device("cpu"))(batch, lengths)
    assert torch.equal(got, expected)


def test_a_foreign_state_is_a_checkpoint_error() -> None:
    with pytest.raises(CheckpointError, match="has format 'batchlab.preprocessor/1'"):
        AudioPreprocessor.from_state({"format": "batchlab.preprocessor/1"})
    state = AudioPreprocessor(sample_rate=8000).fit(_waves(800, 900), ["a", "b"]).state_dict()
    del state["classes"]
    with pytest.raises(CheckpointError, match="incomplete or corrupt"):
        AudioPreprocessor.from_state(state)
