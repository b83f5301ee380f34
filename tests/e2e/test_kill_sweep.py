"""SIGKILL at every file write of a short run, then resume: the same weights, metrics rows and test metrics.

The run (iris, 6 epochs of 7 steps, validation and a step checkpoint every 4 steps, early stopping that
ends it at a validation step) is killed just before each of its ``os.replace`` calls in turn (every
atomic file write and every checkpoint folder goes through one); each killed run is resumed (or started
again by its own command when it died before writing its config) and compared with a run that was never
killed. See ``tests/e2e/kill_sweep.py`` for the driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

CONFIG = """
name: sweep
data: {source: iris}
model: {name: mlp, hidden: [8]}
train:
  batch_size: 16
  epochs: 6
  threads: 1
  val_every_steps: 4
  optimizer: {name: sgd, lr: 0.1}
  checkpoint: {every_steps: 4, every_epochs: 1, keep: 2}
  early_stopping: {patience: 2, min_delta: 0.02, restore_best: true}
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("sweep")
    (work / "c.yaml").write_text(CONFIG)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "e2e" / "kill_sweep.py"), str(work), str(work / "c.yaml")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert "error" not in result, result["error"]
    return result


def test_the_sweep_covers_every_kind_of_write(sweep: dict) -> None:
    writes = sweep["writes"]
    assert len(sweep["points"]) == len(writes)
    kinds = {w.split("/")[-1].split("-")[0] for w in writes}
    assert {"config.yaml", "run.json", "metrics.csv", "step", "best.json", "model.safetensors"} <= kinds
    assert "test_metrics.json" in kinds
    # The clean run ends by early stopping at a step that is both a validation and a checkpoint step.
    status, steps, reason = sweep["status"]
    assert status == "finished" and reason.startswith("early stopping") and steps % 4 == 0


def test_every_kill_point_resumes_to_the_clean_run(sweep: dict) -> None:
    bad = [p for p in sweep["points"] if p["killed"] != -9 or p["resumed"] != 0 or p["differs"]]
    assert not bad, json.dumps(bad, indent=1)


def test_a_resumed_run_keeps_no_temporary_files(sweep: dict) -> None:
    assert all(not p["leftovers"] for p in sweep["points"]), [p for p in sweep["points"] if p["leftovers"]]
