"""The learning-rate study: cells, resuming, and the mistakes it refuses."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from batchlab.config import make_config
from batchlab.errors import ConfigError
from batchlab.lr_range.range_test import RangeSettings
from batchlab.study.lr_batch import LRBatchStudy, cell_records, run_lr_batch_study
from tests.study.conftest import blob_config

QUICK = RangeSettings(min_lr=1e-3, max_lr=100.0, steps=12)


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200), out


def test_a_study_runs_one_range_test_per_cell_and_resumes(blobs: Path, tmp_path: Path) -> None:
    config = make_config(blob_config(blobs, accumulate=2))
    study = LRBatchStudy(sizes=(4, 16, "full"), seeds=(0, 1), settings=QUICK)
    records = run_lr_batch_study(config, study, tmp_path / "study")
    assert [(r["cell"], r["batch"], r["seed"]) for r in records] == [
        ("b4-s0", 8, 0),  # the effective batch: 4 x accumulate 2
        ("b4-s1", 8, 1),
        ("b16-s0", 32, 0),
        ("b16-s1", 32, 1),
        ("bfull-s0", 180, 0),  # the 180 training samples, in two micro-batches
        ("bfull-s1", 180, 1),
    ]
    assert all(r["settings"] == QUICK.to_dict() for r in records)
    saved = json.loads((tmp_path / "study" / "study.json").read_text())
    assert saved["kind"] == "lr-vs-batch" and saved["sizes"] == ["4", "16", "full"] and saved["rule"] == "min10"

    before = (tmp_path / "study" / "runs" / "b4-s0" / "lr_find.json").stat().st_mtime_ns
    (tmp_path / "study" / "runs" / "b16-s1" / "lr_find.json").unlink()  # as if killed before it finished
    console, out = _console()
    again = run_lr_batch_study(
        config,
        LRBatchStudy(sizes=(4, 16, "full"), seeds=(0, 1, 2), settings=QUICK),
        tmp_path / "study",
        console=console,
    )
    text = out.getvalue()
    assert text.count("finished earlier, skipped") == 5
    assert "b16-s1: unfinished range test found, running it again" in text
    assert len(again) == 9  # seed 2 added
    assert (tmp_path / "study" / "runs" / "b4-s0" / "lr_find.json").stat().st_mtime_ns == before
    assert [r["curve"] for r in again if r["cell"] == "b16-s1"] == [
        r["curve"] for r in records if r["cell"] == "b16-s1"
    ]
    assert json.loads((tmp_path / "study" / "study.json").read_text())["seeds"] == [0, 1, 2]


def test_another_sweep_in_the_same_folder_is_refused(blobs: Path, tmp_path: Path) -> None:
    config = make_config(blob_config(blobs))
    run_lr_batch_study(config, LRBatchStudy(sizes=(4, 16), settings=QUICK), tmp_path / "study")
    other = RangeSettings(min_lr=1e-3, max_lr=100.0, steps=13)
    with pytest.raises(ConfigError, match="holds a study with other settings .*range.steps: 12 -> 13"):
        run_lr_batch_study(config, LRBatchStudy(sizes=(4, 16), settings=other), tmp_path / "study")


def test_a_batch_size_study_folder_is_refused(blobs: Path, tmp_path: Path) -> None:
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "study.json").write_text(json.dumps({"kind": "batch-size", "fingerprint": "x"}))
    with pytest.raises(ConfigError, match="holds a study of kind batch-size, not lr-vs-batch"):
        run_lr_batch_study(
            make_config(blob_config(blobs)), LRBatchStudy(sizes=(4, 16), settings=QUICK), tmp_path / "study"
        )


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ((4,), "resolve to 1 batch size on 180 training samples"),
        ((500, "full"), "500, full resolve to 1 batch size"),
        (("512tokens", "1024tokens"), "token budgets .* apply to text data"),
    ],
)
def test_sizes_that_give_no_exponent(blobs: Path, tmp_path: Path, sizes: tuple[object, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_lr_batch_study(make_config(blob_config(blobs)), LRBatchStudy(sizes=sizes, settings=QUICK), tmp_path / "s")  # type: ignore[arg-type]
    assert not (tmp_path / "s").exists()


def test_cell_records_of_an_empty_folder(tmp_path: Path) -> None:
    assert cell_records(tmp_path) == []
