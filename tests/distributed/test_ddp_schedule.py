"""A batch-size schedule under data parallelism: two workers take the sizes one process takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from batchlab.train.checkpoint import load_weights

pytestmark = pytest.mark.slow

CONFIG = """
name: ddp-schedule
data: {{source: digits, split: {{val: 0.15, test: 0.15}}}}
model: {{name: mlp, hidden: [32]}}
train:
  batch_size: 16
  epochs: 2
  optimizer: {{name: sgd, lr: 0.05, momentum: 0.9}}
  lr_scaling: {{rule: sqrt}}
  batch_schedule: {schedule}
  early_stopping: {{enabled: false}}
  checkpoint: {{every_epochs: 1, every_seconds: null}}
"""


def _train(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "schedule",
    ["{kind: ramp, end: 256, over: 1epochs}", "{kind: adaptive, end: 256, every_steps: 5, noise_multiple: 2}"],
)
def test_two_workers_follow_the_schedule_of_one_process(tmp_path: Path, schedule: str) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(schedule=schedule))
    two = _train("-m", "batchlab", "train", "config.yaml", "--nproc", "2", "--run-dir", "two", "-q", cwd=tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    one = _train("-m", "batchlab", "train", "config.yaml", "--run-dir", "one", "-q", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    info_one, info_two = (json.loads((tmp_path / d / "run.json").read_text()) for d in ("one", "two"))
    assert info_two["world_size"] == 2
    sizes = [(c["step"], c["size"]) for c in info_one["batch_changes"]]
    assert len(sizes) > 2 and [(c["step"], c["size"]) for c in info_two["batch_changes"]] == sizes
    assert info_two["samples"] == info_one["samples"] == 2 * info_one["train_samples"]
    a, b = load_weights(tmp_path / "one" / "model.safetensors"), load_weights(tmp_path / "two" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5)
