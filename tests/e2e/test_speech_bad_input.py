"""Bad audio inputs: each gets one line `batchlab: error: ...`, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from batchlab.cli import app

sf = pytest.importorskip("soundfile", reason="the audio extra is not installed")

runner = CliRunner()

CONFIG = """\
data:
  source: rec
  label_pattern: '{label}'
  split: {{val: 0.15, test: 0.15}}
  audio: {{sample_rate: 8000, n_mels: 20{audio}}}
{data}model: {{name: cnn, channels: [4], hidden: [8]}}
train: {{epochs: 1, batch_size: 8}}
"""


def _config(*, label: str = r"^(\d)_", audio: str = "", data: str = "") -> str:
    return CONFIG.format(label=label, audio=audio, data=data)


@pytest.fixture
def recordings(fsdd_subset: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """120 FSDD recordings in ``tmp_path / "rec"`` (3 speakers x 10 digits x 4 takes); cwd is ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return fsdd_subset(speakers=("george", "jackson", "lucas"), takes=range(5, 9), folder="rec")  # type: ignore[no-any-return]


def _train(root: Path, config: str, *options: str) -> tuple[int, str]:
    (root / "c.yaml").write_text(config)
    result = runner.invoke(app, ["train", "c.yaml", "--run-dir", "run", "-q", *options])
    return result.exit_code, result.stderr or result.output


def _one_line_error(code: int, err: str, root: Path, *fragments: str) -> None:
    lines = [line for line in err.strip().splitlines() if line]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("batchlab: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (root / "run").exists()


def _write(path: Path, samples: np.ndarray) -> None:
    sf.write(str(path), samples, 8000)


def test_a_folder_without_recordings_names_both_kinds_of_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "notes.txt").write_text("no audio here")
    (tmp_path / "rec" / "one.mp3").write_bytes(b"ID3")  # not a format that is read
    code, err = _train(tmp_path, _config())
    _one_line_error(code, err, tmp_path, "data.source: folder", "holds no images", "or recordings (.wav, .flac, .ogg)")


# (what is wrong, how to make it, config options, fragments of the one line)
BROKEN: list[tuple[str, Callable[[Path], None], dict[str, str], list[str]]] = [
    (
        "label pattern matching no file name",
        lambda rec: None,
        {"label": r"^([a-z]+)-"},
        ["data.label_pattern: '^([a-z]+)-' matches none of the 120 file names", "e.g. '0_george_5.wav'"],
    ),
    (
        "class with one recording under a stratified split",
        lambda rec: shutil.copyfile(rec / "0_george_5.wav", rec / "x_george_5.wav"),
        {"label": r"^(\d|x)_"},
        ["data.split.stratify: class 'x' has a single row", "data.split.stratify: false"],
    ),
    (
        "corrupt WAV header",
        lambda rec: (rec / "3_george_99.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 40),
        {},
        ["data.source: recording '", "3_george_99.wav' cannot be read ("],
    ),
    (
        "zero-length recording",
        lambda rec: _write(rec / "3_george_99.wav", np.zeros(0, dtype=np.float32)),
        {},
        ["3_george_99.wav' is empty (0 samples)"],
    ),
    (
        "stereo recording where mono is required",
        lambda rec: _write(rec / "3_george_99.wav", np.full((800, 2), 0.1, dtype=np.float32)),
        {"audio": ", channels: error"},
        ["data.audio.channels: recording '", "3_george_99.wav' has 2 channels", "data.audio.channels: mix"],
    ),
    (
        "image augmentation on recordings",
        lambda rec: None,
        {"data": "  augment: [specaugment, hflip]\n"},
        ["data.augment: hflip applies to images, but this data is audio"],
    ),
]


@pytest.mark.parametrize(("what", "make", "options", "fragments"), BROKEN, ids=[b[0] for b in BROKEN])
def test_bad_recordings_and_options(
    recordings: Path,
    what: str,
    make: Callable[[Path], None],
    options: dict[str, str],
    fragments: list[str],
) -> None:
    make(recordings)
    code, err = _train(recordings.parent, _config(**options))
    _one_line_error(code, err, recordings.parent, *fragments)


def test_a_group_split_with_two_speakers_for_three_splits(recordings: Path) -> None:
    for path in recordings.glob("*_lucas_*.wav"):
        path.unlink()
    config = _config(data="  group_pattern: '^\\d_([a-z]+)_'\n").replace("test: 0.15}", "test: 0.15, by_group: true}")
    code, err = _train(recordings.parent, config)
    _one_line_error(
        code, err, recordings.parent, "data.split.by_group: 2 groups cannot fill 3 non-empty splits (train, val, test)"
    )


@pytest.mark.parametrize("step", ["specaugment", "{noise: {snr_db: 10}}", "shift", "gain"])
def test_an_audio_augmentation_on_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _train(tmp_path, f"data: {{source: iris, augment: [{step}]}}\ntrain: {{epochs: 1}}\n")
    name = step.strip("{").split(":")[0]
    _one_line_error(code, err, tmp_path, f"data.augment: {name} applies to audio, but this data is a table of features")


def test_predicting_a_folder_with_an_unreadable_recording_writes_no_output(recordings: Path) -> None:
    code, err = _train(
        recordings.parent, _config().replace("batch_size: 8}", "batch_size: 8, max_steps: 1}"), "--no-plots"
    )
    assert code == 0, err
    new = recordings.parent / "new"
    new.mkdir()
    shutil.copyfile(recordings / "1_lucas_5.wav", new / "a.wav")
    (new / "b.wav").write_bytes(b"not a wav file at all")
    result = runner.invoke(app, ["predict", "run", "new", "-o", "out.csv"])
    lines = (result.stderr or result.output).strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("batchlab: error: input: recording '") and "b.wav' cannot be read" in lines[0]
    assert not (recordings.parent / "out.csv").exists()
