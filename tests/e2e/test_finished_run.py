"""A finished run stays finished, an edited config is refused, and one process at a time writes a directory.

The run is the one of the bug report: iris, batch 8, validation and a step checkpoint every 10 steps,
early stopping with patience 3 that does not restore the best weights, so it stops at a step that is both
a validation and a checkpoint step.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchlab.cli import app
from tests.test_locking import hold_in_another_process

runner = CliRunner()

CONFIG = """
name: early
data: {source: iris}
model: {name: mlp, hidden: [16]}
train:
  batch_size: 8
  epochs: 200
  threads: 1
  val_every_steps: 10
  checkpoint: {every_steps: 10}
  early_stopping: {patience: 3, restore_best: false}
"""


def _cli(*args: str) -> tuple[int, list[str]]:
    done = runner.invoke(app, list(args))
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.exit_code, lines


def _files(run: Path) -> dict[str, str]:
    """Every file of a run directory (checkpoints included) by relative path, with its SHA-256."""
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    (root / "c.yaml").write_text(CONFIG)
    code, lines = _cli("train", str(root / "c.yaml"), "--run-dir", str(root / "run"), "-q", "--no-plots")
    assert code == 0, lines
    info = json.loads((root / "run" / "run.json").read_text())
    assert info["status"] == "finished" and info["stop_reason"].startswith("early stopping")
    assert info["steps"] % 10 == 0  # stopped at a validation + checkpoint step: the case of the report
    return root / "run"


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def test_resuming_a_finished_run_twice_changes_no_file(run: Path) -> None:
    before = _files(run)
    for _ in range(2):
        code, lines = _cli("train", "--resume", str(run), "-q")
        assert code == 0 and len(lines) == 1, lines
        assert "is finished (early stopping" in lines[0] and "nothing changed" in lines[0]
    assert _files(run) == before


def test_a_run_killed_after_its_test_metrics_ends_the_same_on_resume(run: Path) -> None:
    """The process died between test_metrics.json and the final run.json: the last checkpoint has the stop."""
    before = _files(run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "training"}))
    code, lines = _cli("train", "--resume", str(run), "-q", "--no-plots")
    assert code == 0, lines
    after = _files(run)
    for name in ("model.safetensors", "test_metrics.json", "metrics.csv", "checkpoints/best.safetensors"):
        assert after[name] == before[name], name
    assert json.loads((run / "run.json").read_text())["steps"] == info["steps"]


def test_raising_epochs_continues_a_finished_run_and_it_is_finished_again(run: Path) -> None:
    steps = json.loads((run / "run.json").read_text())["steps"]
    code, lines = _cli("train", "--resume", str(run), "--set", "train.epochs=300", "-q", "--no-plots")
    assert code == 0, lines
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["steps"] > steps  # early stopping's patience starts afresh
    assert "epochs: 300" in (run / "config.yaml").read_text()
    code, lines = _cli("train", "--resume", str(run), "-q")
    assert code == 0 and "is finished" in lines[0]


def test_resume_with_another_batch_size_is_refused(run: Path) -> None:
    before = _files(run)
    code, lines = _cli("train", "--resume", str(run), "--set", "train.batch_size=64", "-q")
    assert code == 2 and len(lines) == 1, lines
    assert "train.batch_size: 8 -> 64" in lines[0] and "only train.epochs and train.max_steps" in lines[0]
    assert _files(run) == before


def test_an_edited_config_yaml_is_refused_naming_the_fields(run: Path) -> None:
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))  # a run that would resume
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("batch_size: 8", "batch_size: 64").replace("lr: 0.05", "lr: 0.5"))
    before = _files(run)
    code, lines = _cli("train", "--resume", str(run), "-q")
    assert code == 2 and len(lines) == 1, lines
    assert "config.yaml was edited" in lines[0]
    assert "train.batch_size: 8 -> 64" in lines[0] and "train.optimizer.lr: 0.05 -> 0.5" in lines[0]
    assert _files(run) == before


def test_a_run_directory_in_use_is_refused_with_the_holders_pid(run: Path) -> None:
    before = _files(run)
    holder = hold_in_another_process(run)
    try:
        code, lines = _cli("train", "--resume", str(run), "-q")
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and len(lines) == 1, lines
    assert f"is in use by process {holder.pid}" in lines[0]
    assert _files(run) == before


def test_a_study_directory_in_use_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("data: {source: iris}\ntrain: {epochs: 1}\n")
    holder = hold_in_another_process(tmp_path / "study")
    try:
        args = ["study", "batch-size", str(tmp_path / "c.yaml"), "--sizes", "8", "--study-dir", str(tmp_path / "study")]
        code, lines = _cli(*args)
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and lines[-1].startswith("batchlab: error: study directory"), lines
    assert f"in use by process {holder.pid}" in lines[-1]
    assert not (tmp_path / "study" / "study.json").exists()


def test_a_tuning_directory_in_use_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("data: {source: iris}\ntrain: {epochs: 1}\n")
    (tmp_path / "space.yaml").write_text("train.optimizer.lr: {log_uniform: [0.01, 0.1]}\n")
    holder = hold_in_another_process(tmp_path / "tune")
    try:
        args = ["tune", str(tmp_path / "c.yaml"), "--space", str(tmp_path / "space.yaml"), "--trials", "1"]
        code, lines = _cli(*args, "--study-dir", str(tmp_path / "tune"))
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and lines[-1].startswith("batchlab: error: tuning study directory"), lines
    assert f"in use by process {holder.pid}" in lines[-1]
    assert sorted(p.name for p in (tmp_path / "tune").iterdir()) == [".lock"]
