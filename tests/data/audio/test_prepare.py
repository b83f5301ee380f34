"""Tests of batchlab.data.audio.prepare: splits of recordings, fitting on train, rebuilding, inference input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from batchlab.config import DataConfig
from batchlab.data.audio.features import Featurizer, fit_band_stats
from batchlab.data.audio.prepare import load_audio_for_inference, prepare_audio
from batchlab.data.audio.preprocessor import AudioPreprocessor
from batchlab.data.prepared import SequenceSplit
from batchlab.errors import ConfigError, DataError
from tests.data.audio.conftest import WriteWav, tone

DIGIT = r"^(\d)_"
SPEAKER = r"^\d_([a-z]+)_"


def _cfg(source: Path, split: dict[str, object] | None = None, **options: object) -> DataConfig:
    return DataConfig(
        source=str(source),
        label_pattern=DIGIT,
        audio={"sample_rate": 8000, "n_mels": 20},
        split={"val": 0.25, "test": 0.25, **(split or {})},
        **options,  # type: ignore[arg-type]
    )


def _rows(split: SequenceSplit) -> list[tuple[str, int]]:
    assert split.ids is not None
    return list(zip(split.ids, split.y.tolist(), strict=True))


def test_stratified_split_of_a_folder(digit_folder: Path) -> None:
    data = prepare_audio(_cfg(digit_folder, group_pattern=SPEAKER))
    assert (len(data.train), len(data.val), len(data.test)) == (18, 9, 9)
    assert data.classes == ["0", "1", "2"] and data.task == "classification" and data.num_outputs == 3
    for part in (data.train, data.val, data.test):
        assert isinstance(part, SequenceSplit) and part.y.dtype == torch.int64
        assert part.x.values.dtype == torch.float32
        assert torch.bincount(part.y, minlength=3).tolist() == [len(part) // 3] * 3  # stratified
        assert part.ids is not None and part.groups is not None
        assert all(name.split("_")[1] == group for name, group in zip(part.ids, part.groups, strict=True))
    all_ids = [*data.train.ids, *data.val.ids, *data.test.ids]
    assert sorted(all_ids) == sorted(p.name for p in digit_folder.iterdir())
    spec = data.input_spec
    assert spec.kind == "frames" and spec.shape == (20,) and spec.variable_length
    assert spec.max_length == 1 + int(data.train.x.lengths.max()) // 80


def test_band_statistics_come_from_the_training_split_only(digit_folder: Path) -> None:
    data = prepare_audio(_cfg(digit_folder))
    pre = data.preprocessor
    assert isinstance(pre, AudioPreprocessor)
    mean, std = fit_band_stats(Featurizer(pre.settings), data.train.x)
    np.testing.assert_allclose(pre.band_mean_, mean, rtol=1e-6)
    np.testing.assert_allclose(pre.band_std_, std, rtol=1e-6)
    everything = fit_band_stats(Featurizer(pre.settings), data.test.x)
    assert not np.allclose(pre.band_mean_, everything[0], rtol=1e-3)


def test_split_by_group_keeps_each_speaker_in_one_split(digit_folder: Path) -> None:
    data = prepare_audio(_cfg(digit_folder, {"by_group": True}, group_pattern=SPEAKER))
    groups = [set(part.groups) for part in (data.train, data.val, data.test)]
    assert [len(g) for g in groups] == [2, 1, 1]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert (len(data.train), len(data.val), len(data.test)) == (18, 9, 9)


def test_split_by_group_without_groups_is_a_config_error(digit_folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.split\.by_group: true needs the group of each recording"):
        prepare_audio(_cfg(digit_folder, {"by_group": True}))


def test_split_by_group_with_too_few_speakers_names_the_counts(tmp_path: Path, write_wav: WriteWav) -> None:
    for digit in range(2):
        for speaker in ("ann", "bob"):
            for take in range(2):
                write_wav(tmp_path / f"{digit}_{speaker}_{take}.wav", tone(300, 0.1, 8000))
    with pytest.raises(DataError, match=r"^data\.split\.by_group: 2 groups cannot fill 3 non-empty splits"):
        prepare_audio(_cfg(tmp_path, {"by_group": True}, group_pattern=SPEAKER))


def test_a_fitted_preprocessor_rebuilds_the_same_splits_without_refitting(
    digit_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg(digit_folder, {"seed": 4})
    first = prepare_audio(cfg)

    def no_refit(*args: object, **kwargs: object) -> None:
        raise AssertionError("the preprocessor was refitted")

    monkeypatch.setattr(AudioPreprocessor, "fit", no_refit)
    saved = AudioPreprocessor.from_state(first.preprocessor.state_dict())
    again = prepare_audio(cfg, saved)
    assert again.preprocessor is saved
    for name in ("train", "val", "test"):
        a, b = getattr(first, name), getattr(again, name)
        assert _rows(a) == _rows(b) and torch.equal(a.x.values, b.x.values)


def test_a_separate_validation_folder_replaces_the_fraction(
    digit_folder: Path, tmp_path: Path, write_wav: WriteWav
) -> None:
    extra = tmp_path / "val"
    write_wav(extra / "2_eve_0.wav", tone(1200, 0.2, 8000))
    write_wav(extra / "1_eve_0.wav", tone(800, 0.2, 8000))
    data = prepare_audio(_cfg(digit_folder, {"val_source": str(extra)}))
    assert len(data.train) == 27 and len(data.test) == 9
    assert data.val.ids == ("1_eve_0.wav", "2_eve_0.wav") and data.val.y.tolist() == [1, 2]


def test_regression_is_not_an_audio_task(digit_folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.task: recordings are classified; got 'regression'"):
        prepare_audio(_cfg(digit_folder, task="regression"))


def test_inference_on_an_unlabelled_folder_keeps_every_file(
    digit_folder: Path, tmp_path: Path, write_wav: WriteWav
) -> None:
    data = prepare_audio(_cfg(digit_folder))
    pre = data.preprocessor
    assert isinstance(pre, AudioPreprocessor)
    new = tmp_path / "new"
    write_wav(new / "clip.wav", tone(400, 0.3, 16000), rate=16000)  # resampled to the run's rate
    write_wav(new / "more" / "other.flac", tone(800, 0.2, 8000))
    inputs = load_audio_for_inference(_cfg(digit_folder), pre, str(new), require_target=False)
    assert inputs.y is None and inputs.ids == ("clip.wav", "more/other.flac")
    assert inputs.x.lengths.tolist() == [2400, 1600]
    labelled = load_audio_for_inference(_cfg(digit_folder), pre, str(digit_folder), require_target=True)
    assert labelled.y is not None and len(labelled) == 36 and labelled.y.tolist()[:3] == [0, 0, 0]


def test_inference_with_an_unknown_label_names_it(digit_folder: Path, tmp_path: Path, write_wav: WriteWav) -> None:
    pre = prepare_audio(_cfg(digit_folder)).preprocessor
    assert isinstance(pre, AudioPreprocessor)
    write_wav(tmp_path / "new" / "7_zed_0.wav", tone(400, 0.1, 8000))
    with pytest.raises(DataError, match=r"^input '.*new': label '7' is not a class of the training recordings"):
        load_audio_for_inference(_cfg(digit_folder), pre, str(tmp_path / "new"), require_target=True)


def test_fsdd_split_by_speaker(fsdd: Path) -> None:
    cfg = DataConfig(
        source=str(fsdd),
        label_pattern=r"^(\d)_[a-z]+_4[5-9]\.",  # recordings 45-49: 10 digits x 6 speakers x 5
        group_pattern=SPEAKER,
        audio={"sample_rate": 8000},
        split={"by_group": True},
    )
    data = prepare_audio(cfg)
    assert (len(data.train), len(data.val), len(data.test)) == (200, 50, 50)
    assert data.classes == [str(d) for d in range(10)]
    speakers = [set(part.groups) for part in (data.train, data.val, data.test)]
    assert [len(s) for s in speakers] == [4, 1, 1] and len(set.union(*speakers)) == 6
    assert data.input_spec.shape == (40,) and data.input_spec.max_length is not None
