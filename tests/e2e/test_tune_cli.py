"""``batchlab tune`` end to end: a study, its resume with the same command, its best config; user errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from batchlab.config import load_config

pytestmark = pytest.mark.slow

CONFIG = """\
data: {source: iris}
model: {hidden: [8]}
train: {batch_size: 16, epochs: 1, threads: 1, optimizer: {name: adam, lr: 0.01}}
"""
SPACE = """\
train.optimizer.lr: {log_uniform: [1e-3, 1e-1]}
train.batch_size: {choice: [8, 16]}
model.hidden: {choice: [[4], [8, 8]]}
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "iris.yaml").write_text(CONFIG)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path / "iris.yaml", tmp_path / "space.yaml"


def test_tune_then_resume_with_the_same_command(batchlab_cli, files: tuple[Path, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, space = files
    command = ["tune", str(config), "--space", str(space), "--method", "random", "--trials", "3", "--seed", "1"]
    done = batchlab_cli(*command)
    assert done.code == 0, done.stderr
    study_dir = tmp_path / "runs" / "tune-iris-random"
    assert "Study iris-random: random, maximize val_accuracy, 3 trials" in done.stdout
    assert done.stdout.count("COMPLETE") == 3  # one line per finished trial (not a terminal)
    assert "Stopped: the study has its 3 trials" in done.stdout
    assert f"Best config: {Path('runs/tune-iris-random/best_config.yaml')}" in done.stdout
    with open(study_dir / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert {"train.optimizer.lr", "train.batch_size", "model.hidden", "val_accuracy", "run_dir"} <= set(rows[0])

    again = batchlab_cli(*command)
    assert again.code == 0, again.stderr
    assert "Resuming study iris-random: 3 trials finished so far" in again.stdout
    assert "COMPLETE" not in again.stdout.split("Stopped:")[0]  # no trial ran again

    best = load_config(study_dir / "best_config.yaml")  # a complete config for `batchlab train`
    assert best.data.source == "iris" and best.train.epochs == 1


@pytest.mark.parametrize(
    ("space", "options", "message"),
    [
        (
            "train.optimizr.lr: {log_uniform: [1e-4, 1e-1]}\n",
            [],
            'train.optimizr.lr: unknown key "optimizr" in train; did you mean "optimizer"?',
        ),
        ("model.dropout: {uniform: [0.6, 0.2]}\n", [], "model.dropout: uniform low 0.6 is greater than high 0.2"),
        ("train.optimizer.lr: {log_uniform: [0, 1]}\n", [], "log_uniform needs a positive range (low > 0)"),
        ("model.hidden: {choice: []}\n", [], "model.hidden: choice is empty"),
        ("train.optimizer.lr: {log_uniform: [1e-4, 1e-1]}\n", ["--method", "grid"], "give --grid-points K"),
        ("train.optimizer.lr: {log_uniform: [1e-4, 1e-1]}\n", ["--method", "bayse"], 'did you mean "bayes"?'),
    ],
)
def test_a_bad_space_or_option_is_one_line_and_exit_code_2(
    batchlab_cli, files: tuple[Path, Path], tmp_path: Path, space: str, options: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    config, space_file = files
    space_file.write_text(space)
    done = batchlab_cli("tune", str(config), "--space", str(space_file), "--trials", "2", *options)
    assert done.code == 2, done.stdout + done.stderr
    assert done.stderr.startswith("batchlab: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "runs").exists()  # nothing written before the mistake was found
