"""Tests of batchlab.data.audio.sources: labels from folders, patterns and manifests; groups; bad sources."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from batchlab.config import DataConfig
from batchlab.data.audio.sources import is_audio_source, list_audio, load_audio_source
from batchlab.errors import ConfigError, DataError
from tests.data.audio.conftest import WriteWav, tone

DIGIT = r"^(\d)_"
SPEAKER = r"^\d_([a-z]+)_"


def _cfg(source: Path, **options: object) -> DataConfig:
    return DataConfig(source=str(source), audio={"sample_rate": 8000}, **options)  # type: ignore[arg-type]


def test_labels_and_groups_from_file_name_patterns(digit_folder: Path) -> None:
    source = load_audio_source(_cfg(digit_folder, label_pattern=DIGIT, group_pattern=SPEAKER))
    assert len(source) == 36 and source.sample_rate == 8000
    assert source.files[:4] == ("0_ann_0.wav", "0_ann_1.wav", "0_ann_2.wav", "0_bob_0.wav")  # sorted ids
    assert source.labels is not None and source.labels[:4] == ("0", "0", "0", "0")
    assert source.labels.count("2") == 12
    assert source.groups is not None and sorted(set(source.groups)) == ["ann", "bob", "cy", "dee"]
    assert source.groups[3] == "bob"
    assert source.waveforms.values.dtype == torch.float32
    assert source.waveforms.lengths[:3].tolist() == [800, 1600, 2400]
    np.testing.assert_allclose(source.waveforms[0].numpy(), tone(400, 0.1, 8000), atol=1e-4)  # 16-bit PCM


def test_labels_from_class_sub_folders_at_any_depth(tmp_path: Path, write_wav: WriteWav) -> None:
    write_wav(tmp_path / "yes" / "a.wav", tone(300, 0.1, 8000))
    write_wav(tmp_path / "yes" / "spk2" / "b.flac", tone(300, 0.1, 8000))
    write_wav(tmp_path / "no" / "c.wav", tone(300, 0.2, 8000))
    (tmp_path / "no" / "notes.txt").write_text("not audio")
    write_wav(tmp_path / "stray.wav", tone(300, 0.1, 8000))
    source = load_audio_source(_cfg(tmp_path))
    assert source.files == ("no/c.wav", "yes/a.wav", "yes/spk2/b.flac")
    assert source.labels == ("no", "yes", "yes")
    assert source.groups is None
    assert source.waveforms.lengths.tolist() == [1600, 800, 800]


def test_manifest_paths_are_relative_to_the_csv_with_label_and_group_columns(
    tmp_path: Path, write_wav: WriteWav
) -> None:
    write_wav(tmp_path / "audio" / "x.wav", tone(300, 0.1, 8000))
    write_wav(tmp_path / "audio" / "y.wav", tone(300, 0.2, 8000))
    manifest = tmp_path / "train.csv"
    manifest.write_text('path,label,speaker\naudio/y.wav,"up, then left",s1\naudio/x.wav,down,s2\n')
    source = load_audio_source(_cfg(manifest, group="speaker"))
    assert source.files == ("audio/y.wav", "audio/x.wav")  # row order
    assert source.labels == ("up, then left", "down") and source.groups == ("s1", "s2")
    assert source.waveforms.lengths.tolist() == [1600, 800]


def test_manifest_label_column_named_by_target(tmp_path: Path, write_wav: WriteWav) -> None:
    write_wav(tmp_path / "a.wav", tone(300, 0.1, 8000))
    (tmp_path / "m.csv").write_text("path;word\na.wav;go\n")
    assert list_audio(_cfg(tmp_path / "m.csv", target="word")).labels == ("go",)
    with pytest.raises(DataError, match=r"has no label column 'label'; its columns are: path, word"):
        list_audio(_cfg(tmp_path / "m.csv"))


def test_manifest_row_naming_a_missing_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,label\ngone.wav,a\n")
    with pytest.raises(DataError, match=r"row 1: recording 'gone\.wav' does not exist"):
        list_audio(_cfg(tmp_path / "m.csv"))


def test_label_pattern_matching_no_file_names_the_pattern_and_an_example(digit_folder: Path) -> None:
    with pytest.raises(DataError) as info:
        list_audio(_cfg(digit_folder, label_pattern=r"^([a-z]+)-"))
    assert str(info.value) == (
        "data.label_pattern: '^([a-z]+)-' matches none of the 36 file names (e.g. '0_ann_0.wav'); "
        "its group 1 must capture the label"
    )


def test_files_the_label_pattern_misses_are_skipped_and_counted(
    digit_folder: Path, write_wav: WriteWav, caplog: pytest.LogCaptureFixture
) -> None:
    write_wav(digit_folder / "background.wav", tone(50, 0.1, 8000))
    with caplog.at_level(logging.WARNING, logger="batchlab.data.audio.sources"):
        listing = list_audio(_cfg(digit_folder, label_pattern=DIGIT))
    assert len(listing) == 36 and "background.wav" not in listing.files
    assert "matches 36 of 37 file names; the other 1 (e.g. 'background.wav') are skipped" in caplog.text


def test_a_file_without_a_group_is_an_error(digit_folder: Path, write_wav: WriteWav) -> None:
    write_wav(digit_folder / "1_X_9.wav", tone(50, 0.1, 8000))
    with pytest.raises(DataError, match=r"data\.group_pattern: .* matches 36 of 37 file names but not '1_X_9\.wav'"):
        list_audio(_cfg(digit_folder, label_pattern=DIGIT, group_pattern=SPEAKER))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("^(\\d_", "is not a valid regular expression"), ("^\\d_", "has no group; put the part to extract")],
)
def test_invalid_patterns_are_config_errors(digit_folder: Path, pattern: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^data\.label_pattern: .*{message}"):
        list_audio(_cfg(digit_folder, label_pattern=pattern))


def test_folder_without_audio_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "readme.txt").write_text("nothing to hear")
    with pytest.raises(DataError, match=r"^data\.source: folder '.*' holds no audio files \(\.wav, \.flac, \.ogg\)$"):
        list_audio(_cfg(tmp_path))


def test_flat_folder_needs_class_folders_or_a_label_pattern(digit_folder: Path) -> None:
    with pytest.raises(DataError, match=r"holds recordings but no class sub-folders; .*or set data\.label_pattern"):
        list_audio(_cfg(digit_folder))


def test_unlabelled_input_keeps_every_file_and_reads_no_labels(digit_folder: Path) -> None:
    listing = list_audio(_cfg(digit_folder, label_pattern=DIGIT), str(digit_folder), require_target=False)
    assert len(listing) == 36 and listing.labels is None


def test_group_column_for_a_folder_is_a_config_error(digit_folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.group: 'speaker' names a manifest column.*data\.group_pattern"):
        list_audio(_cfg(digit_folder, label_pattern=DIGIT, group="speaker"))


def test_is_audio_source(tmp_path: Path, digit_folder: Path, write_wav: WriteWav) -> None:
    assert is_audio_source(_cfg(digit_folder))
    assert is_audio_source(_cfg(tmp_path))  # recordings one level down
    assert is_audio_source(_cfg(digit_folder / "0_ann_0.wav"))
    (tmp_path / "m.csv").write_text("path,label\nrecordings/0_ann_0.wav,0\n")
    (tmp_path / "t.csv").write_text("x,label\n1.5,0\n")
    assert is_audio_source(_cfg(tmp_path / "m.csv"))
    assert not is_audio_source(_cfg(tmp_path / "t.csv"))
    assert not is_audio_source(DataConfig(source="digits"))
    (tmp_path / "images" / "cat").mkdir(parents=True)
    assert not is_audio_source(_cfg(tmp_path / "images"))


def test_fsdd_counts(fsdd: Path) -> None:
    listing = list_audio(_cfg(fsdd, label_pattern=DIGIT, group_pattern=SPEAKER))
    assert len(listing) == 2700
    assert listing.labels is not None and sorted(set(listing.labels)) == [str(d) for d in range(10)]
    assert all(listing.labels.count(str(d)) == 270 for d in range(10))
    assert listing.groups is not None
    assert sorted(set(listing.groups)) == ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
    subset = load_audio_source(_cfg(fsdd, label_pattern=r"^(\d)_george_4[5-9]\."))  # 10 digits x 5 takes
    assert len(subset) == 50 and subset.sample_rate == 8000
    seconds = subset.waveforms.lengths.double() / 8000
    assert float(seconds.min()) >= 0.14 and float(seconds.max()) <= 2.28
