"""Kill-and-resume: a run killed with SIGKILL anywhere resumes to bit-identical weights; Ctrl-C exits 130."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from batchlab.train.checkpoint import load_weights

pytestmark = pytest.mark.slow

CONFIG = """
name: resume
data: {source: digits, augment: [{hflip: {p: 0.5}}, {jitter: {brightness: 0.1}}]}
model: {name: mlp, hidden: [64], dropout: 0.2}
train:
  batch_size: 64
  epochs: 4
  optimizer: {name: adam, lr: 0.003}
  schedule: {name: cosine, warmup_steps: 5}
  early_stopping: {monitor: val_loss, patience: 10}
  checkpoint: {every_steps: 7, every_epochs: 1, keep: 2}
"""

# Runs a training whose process kills itself at a chosen point: after optimizer step N, inside the
# validation that follows step N, or in the middle of writing the checkpoint of step N.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import batchlab
    import batchlab.train.checkpoint as checkpoint
    import batchlab.train.loop as loop
    from batchlab.train.callbacks import Callback

    where, at, config, run_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)

    class KillAtStep(Callback):
        def on_step_end(self, state):
            if where == "step" and state.step == at:
                die()

    steps = {"now": 0}
    class Track(Callback):
        def on_step_end(self, state):
            steps["now"] = state.step

    if where == "validation":
        original = loop.validation_metrics
        def dying_validation(*args, **kwargs):
            if steps["now"] >= at:
                original(*args, **kwargs)
                die()
            return original(*args, **kwargs)
        loop.validation_metrics = dying_validation

    if where == "checkpoint":
        original_save = checkpoint.save_file
        def dying_save(tensors, path, *args, **kwargs):
            original_save(tensors, path, *args, **kwargs)
            if steps["now"] >= at and path.endswith("extra.safetensors"):
                die()
        checkpoint.save_file = dying_save

    batchlab.fit(config, run_dir=run_dir, callbacks=[Track(), KillAtStep()], progress=False)
    """
)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("resume")
    (root / "config.yaml").write_text(CONFIG)
    (root / "killer.py").write_text(KILLER)
    done = _run("-m", "batchlab", "train", "config.yaml", "--run-dir", "full", "-q", cwd=root)
    assert done.returncode == 0, done.stderr
    return root, root / "full"


@pytest.mark.parametrize(("where", "at"), [("step", 3), ("step", 31), ("validation", 20), ("checkpoint", 14)])
def test_sigkill_then_resume_gives_bit_identical_weights(reference: tuple[Path, Path], where: str, at: int) -> None:
    root, full = reference
    run_dir = root / f"killed-{where}-{at}"
    killed = _run("killer.py", where, str(at), "config.yaml", str(run_dir), cwd=root)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (run_dir / "model.safetensors").exists()
    resumed = _run("-m", "batchlab", "train", "--resume", str(run_dir), "-q", cwd=root)
    assert resumed.returncode == 0, resumed.stderr
    expected, got = load_weights(full / "model.safetensors"), load_weights(run_dir / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)

    def rows(path: Path) -> list[dict[str, str]]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(path.open())]

    assert rows(run_dir / "metrics.csv") == rows(full / "metrics.csv")
    assert not list((run_dir / "checkpoints").glob(".step-*"))  # a half-written checkpoint was cleaned up


def test_a_corrupted_latest_checkpoint_falls_back_to_the_previous(reference: tuple[Path, Path]) -> None:
    root, full = reference
    run_dir = root / "corrupt"
    killed = _run("killer.py", "step", "30", "config.yaml", str(run_dir), cwd=root)
    assert killed.returncode == -signal.SIGKILL
    newest = sorted((run_dir / "checkpoints").glob("step-*"))[-1]
    (newest / "optimizer.pt").write_bytes(b"garbage")
    resumed = _run("-m", "batchlab", "train", "--resume", str(run_dir), "-q", cwd=root)
    assert resumed.returncode == 0, resumed.stderr
    assert "falling back to an older checkpoint" in resumed.stderr
    expected, got = load_weights(full / "model.safetensors"), load_weights(run_dir / "model.safetensors")
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_sigint_writes_a_checkpoint_and_exits_130(reference: tuple[Path, Path]) -> None:
    root, _ = reference
    run_dir = root / "interrupted"
    slow = CONFIG.replace("batch_size: 64", "batch_size: 1").replace("epochs: 4", "epochs: 50")
    (root / "slow.yaml").write_text(slow)
    process = subprocess.Popen(
        [sys.executable, "-m", "batchlab", "train", "slow.yaml", "--run-dir", str(run_dir), "-q"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "metrics.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert f"Resume with: batchlab train --resume {run_dir}" in stderr
    assert "Traceback" not in stderr
    checkpoints = sorted((run_dir / "checkpoints").glob("step-*"))
    assert checkpoints, "no checkpoint written on SIGINT"
    step = int(checkpoints[-1].name.split("-")[1])
    assert step % 1257 != 0  # written mid-epoch, at the step where the signal arrived


def test_resume_with_a_different_model_lists_the_mismatch(reference: tuple[Path, Path]) -> None:
    root, full = reference
    other = root / "other.yaml"
    other.write_text(CONFIG.replace("hidden: [64]", "hidden: [32]"))
    done = _run("-m", "batchlab", "train", "other.yaml", "--resume", str(full), "-q", cwd=root)
    assert done.returncode == 2
    assert "model.hidden: [64] -> [32]" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_checkpoint_that_does_not_fit_lists_the_tensor_shapes(reference: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    root, full = reference
    copy = tmp_path / "run"
    shutil.copytree(full, copy)
    config = (copy / "config.yaml").read_text().replace("- 64", "- 48")
    (copy / "config.yaml").write_text(config)
    # As a run of an earlier version (no config checksum) killed while training: the edit reaches the weights.
    info = json.loads((copy / "run.json").read_text())
    info.pop("config_sha256")
    (copy / "run.json").write_text(json.dumps({**info, "status": "training"}))
    done = _run("-m", "batchlab", "train", "--resume", str(copy), "-q", cwd=root)
    assert done.returncode == 2
    assert "does not fit the model" in done.stderr and "checkpoint (64, 64) vs model (48, 64)" in done.stderr
