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


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--min", "1", "--max", "0.1"], ["--min 1 is not below --max 0.1", "--min 1e-7 --max 10"]),
        (["--steps", "5"], ["--steps: 5 is too few", "at least 10 rates"]),
        (["--mode", "log"], ["--mode: unknown spacing 'log'", "exp, linear"]),
        (["--rule", "valley"], ["--rule: unknown rule 'valley'", "steepest, min10"]),
        (["--set", "train.batch_size=5000"], ["train.batch_size: 5000 is larger than the training split"]),
    ],
)
def test_lr_find_mistakes(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    (tmp_path / "c.yaml").write_text("data: {source: digits}\n")
    result = runner.invoke(app, ["lr-find", str(tmp_path / "c.yaml"), "--run-dir", str(tmp_path / "run"), *args])
    _assert_user_error(result.exit_code, result.stderr or result.output, tmp_path / "run", *fragments)


def test_lr_find_into_a_folder_that_is_neither_a_run_nor_a_range_test(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("data: {source: digits}\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    result = runner.invoke(app, ["lr-find", str(tmp_path / "c.yaml"), "--run-dir", str(tmp_path / "mine")])
    err = result.stderr or result.output
    _assert_user_error(result.exit_code, err, tmp_path / "run", "is not empty and holds neither a run nor a range test")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_lr_find_notes_an_ignored_schedule_and_how_often_the_batches_wrap(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "data: {source: iris}\ntrain: {batch_size: 32, schedule: {name: onecycle}}\nmodel: {hidden: [8]}\n"
    )
    result = runner.invoke(app, ["lr-find", str(tmp_path / "c.yaml"), "--run-dir", str(tmp_path / "run"), "--no-plots"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("Note: ")]
    assert notes[0] == "Note: train.schedule (onecycle) is ignored: the range test sets the rate of every step itself"
    assert notes[1].startswith(
        "Note: the test's 101 steps (one per rate, plus the first loss) take 25.2 epochs of 4 batches"
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--sizes", "16"], ["--sizes: 16 resolve to 1 batch size", "an exponent needs at least two"]),
        (["--sizes", "8,32", "--seeds", "0"], ["--seeds: the count must be at least 1"]),
        (["--sizes", "8,512tokens"], ["--sizes: a study is in one unit"]),
    ],
)
def test_lr_study_mistakes(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    (tmp_path / "c.yaml").write_text("data: {source: iris}\n")
    result = runner.invoke(
        app, ["study", "lr-vs-batch", str(tmp_path / "c.yaml"), "--study-dir", str(tmp_path / "run"), *args]
    )
    _assert_user_error(result.exit_code, result.stderr or result.output, tmp_path / "run", *fragments)


def test_lr_study_in_a_batch_size_study_folder(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("data: {source: iris}\n")
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "study.json").write_text('{"kind": "batch-size", "fingerprint": "0"}')
    result = runner.invoke(
        app, ["study", "lr-vs-batch", str(tmp_path / "c.yaml"), "--study-dir", str(tmp_path / "study")]
    )
    err = result.stderr or result.output
    _assert_user_error(result.exit_code, err, tmp_path / "run", "holds a study of kind batch-size, not lr-vs-batch")
    assert [p.name for p in (tmp_path / "study").iterdir()] == ["study.json"]
