"""Every bad input gets one line `batchlab: error: ...`, exit code 2, no traceback, and no run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchlab.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # data paths in configs are relative to the working directory


def _train(
    tmp_path: Path, config: str, *sets: str, files: dict[str, str | bytes] | None = None
) -> tuple[int, str, Path]:
    for name, content in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "config.yaml").write_text(config)
    run_dir = tmp_path / "run"
    args = ["train", str(tmp_path / "config.yaml"), "--run-dir", str(run_dir), "-q"]
    for item in sets:
        args += ["--set", item]
    result = runner.invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stderr or result.output, run_dir


def _assert_user_error(code: int, err: str, run_dir: Path, *fragments: str) -> None:
    lines = [line for line in err.strip().splitlines() if line]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("batchlab: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not run_dir.exists()


GOOD_CSV = "a,b,color,y\n" + "".join(f"{i},{i % 7},{'red' if i % 2 else 'blue'},{i % 3}\n" for i in range(60))


@pytest.mark.parametrize(
    ("config", "sets", "fragments"),
    [
        ("data: {source: digitz}", [], ["data.source", "digitz", "digits"]),
        ("model: {name: resnet}", [], ["model.name", "resnet", "mlp, cnn"]),
        ("train: {optimizer: {name: adamm}}", [], ["train.optimizer.name", "adamm", "adam"]),
        ("train: {schedule: {name: linear}}", [], ["train.schedule.name", "linear", "constant"]),
        ("data: {source: digits}", ["train.batch_size=0"], ["train.batch_size", "positive integer", "got 0"]),
        ("data: {source: digits}", ["train.batch_size=-3"], ["train.batch_size", "got -3"]),
        ("data: {source: digits}", ["train.batch_size=12.5"], ["train.batch_size", "got 12.5"]),
        (
            "data: {source: digits}",
            ["train.batch_size=5000"],
            ["train.batch_size", "5000", "larger than the training split", "full"],
        ),
        ("data: {source: digits, split: {val: 0.6, test: 0.5}}", [], ["data.split", "sum to"]),
        ("data: {source: digits, split: {val: 1.2}}", [], ["data.split.val", "1.2"]),
        ("train: {batch_sise: 32}", [], ["train.batch_sise", 'did you mean "batch_size"']),
        ("trian: {epochs: 3}", [], ["trian", 'did you mean "train"']),
        ("data: {source: missing.csv}", [], ["missing.csv", "does not exist"]),
        (
            "data: {source: digits}\nmodel: {name: cnn, channels: [8]}\n"
            "train: {epochs: 1, early_stopping: {monitor: val_f1}}",
            [],
            ["train.early_stopping.monitor", "val_f1", "val_accuracy"],
        ),
    ],
)
def test_config_mistakes(tmp_path: Path, config: str, sets: list[str], fragments: list[str]) -> None:
    code, err, run_dir = _train(tmp_path, config, *sets)
    _assert_user_error(code, err, run_dir, *fragments)


def test_unknown_target_column_lists_the_columns(tmp_path: Path) -> None:
    code, err, run_dir = _train(tmp_path, "data: {source: t.csv, target: z}", files={"t.csv": GOOD_CSV})
    _assert_user_error(code, err, run_dir, "z")


def test_empty_file(tmp_path: Path) -> None:
    code, err, run_dir = _train(tmp_path, "data: {source: t.csv}", files={"t.csv": ""})
    _assert_user_error(code, err, run_dir, "t.csv", "empty")


def test_unreadable_file(tmp_path: Path) -> None:
    code, err, run_dir = _train(tmp_path, "data: {source: t.csv}", files={"t.csv": b"\x00\xff\xfe" * 50})
    assert code == 2 and "Traceback" not in err and not run_dir.exists()


def test_non_numeric_value_in_a_numeric_column(tmp_path: Path) -> None:
    bad = GOOD_CSV.replace("\n17,", "\nseventeen,", 1)
    code, err, run_dir = _train(tmp_path, "data: {source: t.csv, target: y}", files={"t.csv": bad})
    _assert_user_error(code, err, run_dir, "'a'", "seventeen")


def test_missing_features_with_imputation_off(tmp_path: Path) -> None:
    bad = GOOD_CSV.replace("\n5,5,", "\n5,,", 1)
    code, err, run_dir = _train(tmp_path, "data: {source: t.csv, target: y, missing: error}", files={"t.csv": bad})
    _assert_user_error(code, err, run_dir, "'b'")


def test_infinite_features_with_imputation_off(tmp_path: Path) -> None:
    bad = GOOD_CSV.replace("\n5,5,", "\n5,inf,", 1)
    code, err, run_dir = _train(tmp_path, "data: {source: t.csv, target: y, missing: error}", files={"t.csv": bad})
    _assert_user_error(code, err, run_dir, "'b'")


def test_a_target_with_one_class(tmp_path: Path) -> None:
    one = "a,y\n" + "".join(f"{i},same\n" for i in range(30))
    code, err, run_dir = _train(tmp_path, "data: {source: t.csv, target: y}", files={"t.csv": one})
    _assert_user_error(code, err, run_dir, "'y'", "class")


def test_augmenting_a_table_is_rejected(tmp_path: Path) -> None:
    code, err, run_dir = _train(tmp_path, "data: {source: iris, augment: [hflip]}")
    _assert_user_error(code, err, run_dir, "data.augment")


def test_a_valid_small_csv_trains(tmp_path: Path) -> None:
    code, err, run_dir = _train(
        tmp_path,
        "data: {source: t.csv, target: y}\ntrain: {epochs: 2, batch_size: 16}",
        files={"t.csv": GOOD_CSV},
    )
    assert code == 0, err
    assert (run_dir / "test_metrics.json").exists()


def test_evaluate_and_predict_on_a_missing_run(tmp_path: Path) -> None:
    for args in (
        ["evaluate", str(tmp_path / "nope")],
        ["predict", str(tmp_path / "nope"), "x.csv", "-o", "y.csv"],
        ["report", str(tmp_path / "nope")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert result.stderr.startswith("batchlab: error: ") and "does not exist" in result.stderr


def test_train_without_config_or_resume(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2 and "give a CONFIG file" in result.stderr


def test_unwritable_run_directory(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        target = Path("/proc/batchlab-run")  # even root cannot create directories here
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "run"
    (tmp_path / "c.yaml").write_text("train: {epochs: 1}")
    result = runner.invoke(app, ["train", str(tmp_path / "c.yaml"), "--run-dir", str(target), "-q"])
    assert result.exit_code == 2
    assert result.stderr.startswith("batchlab: error: --run-dir: ")
    assert any(reason in result.stderr for reason in ("cannot write", "not a directory", "MiB free", "virtual file"))
