"""Training on an in-memory .npy file holds about one float32 copy of the data, not two or three."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

_JOB = """
import gc, json, sys, tempfile
from pathlib import Path
import batchlab

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

def config(path):
    return {
        "data": {"source": path, "split": {"val": 0.02, "test": 0.0}, "scale": "standard"},
        "model": {"name": "mlp", "hidden": [32]},
        "train": {"batch_size": 256, "max_steps": 2, "epochs": None, "checkpoint": {"every_epochs": None}},
    }

small, big = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as run_dir:  # imports and lazy set-up, so the baseline includes them
    batchlab.fit(config(small), run_dir=Path(run_dir) / "warm", progress=False, plots=False)
gc.collect()
baseline = status("VmRSS")
with tempfile.TemporaryDirectory() as run_dir:
    batchlab.fit(config(big), run_dir=Path(run_dir) / "run", progress=False, plots=False)
print(json.dumps({"baseline": baseline, "peak": status("VmHWM")}))
"""


def _rows(path: Path, rows: int) -> int:
    """Write ``rows`` rows of 64 features and a class label (float32, the last column); return the file size."""
    rng = np.random.default_rng(0)
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 65))
    for start in range(0, rows, 1 << 16):
        stop = min(rows, start + (1 << 16))
        x = rng.standard_normal((stop - start, 64), dtype=np.float32)
        data[start:stop, :64] = x
        data[start:stop, 64] = (x[:, 0] > 0) + 2 * (x[:, 1] > 0)
    data.flush()
    del data
    return path.stat().st_size


def test_peak_memory_of_training_on_a_200_mb_npy_is_about_one_copy_of_it(tmp_path: Path) -> None:
    small, big = tmp_path / "small.npy", tmp_path / "big.npy"
    _rows(small, 4000)
    size = _rows(big, 200 * 10**6 // (65 * 4))
    done = subprocess.run(
        [sys.executable, "-c", _JOB, str(small), str(big)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = (result["peak"] - result["baseline"]) / size
    # loading the file and copying the training split out of it peaked at 2.6 copies of the data
    assert ratio <= 1.6, f"peak {ratio:.2f}x the data's size above the baseline"
