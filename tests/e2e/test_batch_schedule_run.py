"""Runs with a batch-size schedule: exact resume after kill -9, accumulation above the micro-batch cap,
the learning rate at each size, what the run records, and mistakes refused before anything is written."""

from __future__ import annotations

import csv
import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from batchlab.train.checkpoint import load_weights
from tests.e2e.test_resume import KILLER

pytestmark = pytest.mark.slow

CONFIG = """
name: schedule
data: {{source: digits, split: {{val: 0.15, test: 0.15, seed: 0}}, augment: [{{jitter: {{brightness: 0.1}}}}]}}
model: {{name: mlp, hidden: [32], dropout: 0.1}}
train:
  batch_size: 16
  epochs: 3
  optimizer: {{name: sgd, lr: 0.05, momentum: 0.9}}
  lr_scaling: {{rule: sqrt}}
  batch_schedule: {schedule}
  early_stopping: {{enabled: false}}
  val_every_steps: 9
  checkpoint: {{every_steps: 5, every_epochs: 1, keep: 2}}
"""
RAMP = "{kind: ramp, end: 128, over: 2epochs}"
ADAPTIVE = "{kind: adaptive, end: 256, every_steps: 4, warmup_measurements: 2, noise_multiple: 3}"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _rows(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(path.open())]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schedule")
    (root / "killer.py").write_text(KILLER)
    for name, schedule in (("ramp", RAMP), ("adaptive", ADAPTIVE)):
        (root / f"{name}.yaml").write_text(CONFIG.format(schedule=schedule))
        done = _run("-m", "batchlab", "train", f"{name}.yaml", "--run-dir", f"{name}-full", "-q", cwd=root)
        assert done.returncode == 0, done.stderr
    return root


@pytest.mark.parametrize(("name", "at"), [("ramp", 23), ("adaptive", 18)])
def test_sigkill_mid_epoch_then_resume_is_bit_identical(root: Path, name: str, at: int) -> None:
    run_dir = root / f"{name}-killed"
    killed = _run("killer.py", "step", str(at), f"{name}.yaml", str(run_dir), cwd=root)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _run("-m", "batchlab", "train", "--resume", str(run_dir), "-q", cwd=root)
    assert resumed.returncode == 0, resumed.stderr
    full = root / f"{name}-full"
    expected, got = load_weights(full / "model.safetensors"), load_weights(run_dir / "model.safetensors")
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert _rows(run_dir / "metrics.csv") == _rows(full / "metrics.csv")
    changes = json.loads((run_dir / "run.json").read_text())["batch_changes"]
    assert changes == json.loads((full / "run.json").read_text())["batch_changes"]


def test_the_ramp_grows_the_batch_and_scales_the_rate(root: Path) -> None:
    rows = list(csv.DictReader((root / "ramp-full" / "metrics.csv").open()))
    sizes = [int(r["batch_size"]) for r in rows]
    assert sizes[0] < sizes[len(sizes) // 2] < sizes[-1] == 128
    assert sizes == sorted(sizes)
    info = json.loads((root / "ramp-full" / "run.json").read_text())
    changes = info["batch_changes"]
    assert changes[0] == {"step": 0, "samples": 0, "epoch": 0, "size": 16, "previous": None, "reason": "start"}
    assert changes[-1]["size"] == 128 and changes[-1]["reason"] == "ramp 100%"
    assert int(rows[-1]["samples"]) == 3 * info["train_samples"]  # every sample once per epoch
    last = rows[-1]
    assert float(last["lr"]) == pytest.approx(0.05 * (128 / 16) ** 0.5)


def test_adaptive_grows_with_the_measured_noise_scale(root: Path) -> None:
    rows = list(csv.DictReader((root / "adaptive-full" / "metrics.csv").open()))
    assert "noise_scale" in rows[0]
    changes = json.loads((root / "adaptive-full" / "run.json").read_text())["batch_changes"]
    assert len(changes) >= 2 and all(c["reason"].startswith("B_simple") for c in changes[1:])
    assert all(b["size"] > a["size"] for a, b in itertools.pairwise(changes))


def test_a_micro_batch_cap_accumulates_to_the_same_update(root: Path) -> None:
    capped = CONFIG.format(schedule=RAMP.replace("}", ", max_micro_batch: 24}")).replace("dropout: 0.1", "dropout: 0.0")
    plain = CONFIG.format(schedule=RAMP).replace("dropout: 0.1", "dropout: 0.0")
    (root / "capped.yaml").write_text(capped)
    (root / "plain.yaml").write_text(plain)
    for name in ("capped", "plain"):
        done = _run("-m", "batchlab", "train", f"{name}.yaml", "--run-dir", name, "-q", cwd=root)
        assert done.returncode == 0, done.stderr
    a, b = load_weights(root / "capped" / "model.safetensors"), load_weights(root / "plain" / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
    assert not all(torch.equal(a[k], b[k]) for k in a)  # summed in another order: the cap did split batches


@pytest.mark.parametrize(
    ("schedule", "extra", "message"),
    [
        (RAMP, "  accumulate: 2\n", "train.accumulate: 2 cannot be combined with train.batch_schedule.kind: ramp"),
        ("{kind: ramp, end: 5000}", "", "train.batch_schedule.end: 5000 is larger than the training split"),
        ("{kind: ramp}", "", "a ramp needs end"),
        ("{kind: step, milestones: [2, 1]}", "", "train.batch_schedule.milestones"),
        ("{kind: ramp, end: 64, over: 3weeks}", "", "train.batch_schedule.over"),
        ("{kind: adaptive, start: 64, end: 32}", "", "end (32) is smaller than start (64)"),
    ],
)
def test_schedule_mistakes_are_one_line_errors(root: Path, schedule: str, extra: str, message: str) -> None:
    (root / "bad.yaml").write_text(CONFIG.format(schedule=schedule) + extra)
    done = _run("-m", "batchlab", "train", "bad.yaml", "--run-dir", "bad", "-q", cwd=root)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (root / "bad").exists()
