"""TensorBoard for many runs: a batch-size study and a tuning study write one TensorBoard run per cell / trial."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams import plugin_data_pb2

pytestmark = pytest.mark.slow

CONFIG = """\
data: {source: iris}
model: {hidden: [8]}
train: {batch_size: 16, epochs: 2, threads: 1, optimizer: {name: adam, lr: 0.01}, log: {tensorboard: true}}
"""


def runs_under(folder: Path) -> EventMultiplexer:
    multiplexer = EventMultiplexer(size_guidance={"scalars": 0, "tensors": 0})
    multiplexer.AddRunsFromDirectory(str(folder))
    multiplexer.Reload()
    return multiplexer


def hparams_of(multiplexer: EventMultiplexer, run: str) -> dict[str, object]:
    content = multiplexer.PluginRunToTagToContent("hparams")[run]["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {
        name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
        for name, value in start.hparams.items()
    }


def train_losses(run_dir: Path) -> list[tuple[int, float]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [(int(r["step"]), float(r["train_loss"])) for r in csv.DictReader(handle)]


def test_batch_size_study_writes_one_run_per_cell(batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "iris.yaml").write_text(CONFIG)
    done = batchlab_cli("study", "batch-size", "iris.yaml", "--sizes", "8,32", "--target", "val_accuracy=0.5",
                        "--study-dir", "study")  # fmt: skip
    assert done.code == 0, done.stderr
    multiplexer = runs_under(tmp_path / "study")
    runs = sorted(multiplexer.Runs())
    assert len(runs) == 2 and all(run.endswith("/tensorboard") for run in runs)
    sizes = set()
    for run in runs:
        sizes.add(hparams_of(multiplexer, run)["train.batch_size"])
        logged = [(e.step, e.value) for e in multiplexer.Scalars(run, "train_loss")]
        expected = train_losses(tmp_path / "study" / run.removesuffix("/tensorboard"))
        assert [s for s, _ in logged] == [s for s, _ in expected]
        assert [v for _, v in logged] == pytest.approx([v for _, v in expected], rel=1e-6)
    assert sizes == {8, 32}


def test_tuning_study_writes_one_run_per_trial(batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "iris.yaml").write_text(CONFIG)
    (tmp_path / "space.yaml").write_text("train.optimizer.lr: {log_uniform: [1e-3, 1e-1]}\n")
    done = batchlab_cli("tune", "iris.yaml", "--space", "space.yaml", "--method", "random", "--trials", "3",
                        "--study-dir", "tune")  # fmt: skip
    assert done.code == 0, done.stderr
    multiplexer = runs_under(tmp_path / "tune" / "trials")
    assert sorted(multiplexer.Runs()) == [f"{n}/tensorboard" for n in range(3)]
    with open(tmp_path / "tune" / "trials.csv", newline="") as handle:
        trials = {int(r["number"]): r for r in csv.DictReader(handle)}
    for number, row in trials.items():
        run = f"{number}/tensorboard"
        assert hparams_of(multiplexer, run)["train.optimizer.lr"] == pytest.approx(float(row["train.optimizer.lr"]))
        val = multiplexer.Scalars(run, "val_accuracy")[-1].value
        assert val == pytest.approx(float(row["val_accuracy"]), abs=1e-6)
