"""The intra-op thread rule: as many threads as the step's work can use and the machine has free."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from batchlab.train import threads as rule
from batchlab.train.threads import WORK_PER_THREAD, free_cores, intra_op_threads

MLP = 84_992  # 64 -> 256 -> 256 -> 10


@pytest.mark.parametrize(
    ("cores", "load", "free"),
    [
        (2, 0.0, 2),
        (2, 0.4, 2),
        (2, 0.6, 1),
        (2, 1.0, 1),
        (2, 7.0, 1),
        (8, 5.2, 3),
        (8, 2.5, 6),
        (8, 2.6, 5),
        (4, -1.0, 4),
    ],
)
def test_free_cores_are_the_cores_minus_the_load_rounded_at_least_one(cores: int, load: float, free: int) -> None:
    assert free_cores(cores, load) == free


@pytest.mark.parametrize(
    ("batch", "threads"),
    [(32, 1), (98, 1), (99, 2), (256, 3), (2048, 8)],  # 98 x 84,992 < 2**23 < 99 x 84,992
)
def test_a_quiet_machine_gives_one_thread_per_unit_of_work(batch: int, threads: int) -> None:
    assert MLP * 98 < WORK_PER_THREAD < MLP * 99
    assert intra_op_threads(parameters=MLP, batch_size=batch, cores=8, load=0.0) == threads


def test_a_busy_machine_gives_no_more_threads_than_free_cores() -> None:
    assert intra_op_threads(parameters=MLP, batch_size=2048, cores=2, load=0.0) == 2
    assert intra_op_threads(parameters=MLP, batch_size=2048, cores=2, load=1.0) == 1  # one core taken
    assert intra_op_threads(parameters=MLP, batch_size=2048, cores=2, load=6.5) == 1
    assert intra_op_threads(parameters=10**9, batch_size=4096, cores=64, load=60.0) == 4


def test_the_ceiling_and_degenerate_inputs() -> None:
    assert intra_op_threads(parameters=10**9, batch_size=4096, cores=16, load=0.0, ceiling=4) == 4
    assert intra_op_threads(parameters=0, batch_size=0, cores=16, load=0.0) == 1
    assert intra_op_threads(parameters=10**9, batch_size=4096, cores=1, load=0.0, ceiling=0) == 1


@pytest.fixture
def restore_threads():  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    rule._SET_BY_US.clear()
    yield
    torch.set_num_threads(before)
    rule._SET_BY_US.clear()


def _fit(tmp_path: Path, **train: object) -> int:
    import batchlab

    cfg = {"data": {"source": "iris"}, "model": {"hidden": [1024, 1024]}, "train": {"epochs": 1, **train}}
    batchlab.fit(cfg, run_dir=tmp_path / "run", progress=False, plots=False)
    return torch.get_num_threads()


def test_a_run_takes_the_rules_threads_and_train_threads_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_threads: None
) -> None:
    # 1.06M parameters at batch 32: the work could use 5 threads; the free cores decide
    monkeypatch.setattr(rule, "machine_cores", lambda: 4)
    torch.set_num_threads(4)
    monkeypatch.setattr(rule, "busy_cores", lambda: 3.0)
    assert _fit(tmp_path / "busy") == 1
    monkeypatch.setattr(rule, "busy_cores", lambda: 1.0)
    assert _fit(tmp_path / "quieter") == 3  # the ceiling is still torch's 4, not the 1 set before
    assert _fit(tmp_path / "fixed", threads=2) == 2


def test_a_resumed_run_takes_the_thread_count_it_started_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_threads: None
) -> None:
    import json

    import batchlab

    monkeypatch.setattr(rule, "machine_cores", lambda: 4)
    torch.set_num_threads(4)
    monkeypatch.setattr(rule, "busy_cores", lambda: 1.0)
    cfg = {"data": {"source": "iris"}, "model": {"hidden": [1024, 1024]}, "train": {"epochs": 1}}
    batchlab.fit(cfg, run_dir=tmp_path / "run", progress=False, plots=False)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["threads"] == 3
    monkeypatch.setattr(rule, "busy_cores", lambda: 3.0)  # busier now: the rule alone would give 1
    batchlab.fit(overrides=["train.epochs=2"], resume=tmp_path / "run", progress=False, plots=False)
    assert torch.get_num_threads() == 3
