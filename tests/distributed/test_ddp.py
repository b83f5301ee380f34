"""Data-parallel training with torchrun on CPU (gloo): two workers behave like one process.

Each test launches real processes: two workers on this machine (``--nproc-per-node 2``), or two
"hosts" as two torchrun invocations meeting on the loopback address.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from batchlab.train.checkpoint import load_weights

pytestmark = pytest.mark.slow

CONFIG = """
name: ddp
data: {source: digits, split: {val: 0.15, test: 0.15}}
model: {name: mlp, hidden: [32]}
train:
  batch_size: 64
  epochs: 3
  optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
  early_stopping: {monitor: val_accuracy, patience: 2}
  checkpoint: {every_epochs: 1, every_seconds: null}
"""

# Runs under torchrun: trains, and records which files each rank wrote and the history it saw.
WORKER = textwrap.dedent(
    """
    import json, os, sys, weakref
    from pathlib import Path
    import batchlab
    import batchlab.atomic as atomic
    from batchlab.train.callbacks import Callback

    class WrapperSpy(Callback):  # a weak reference to the model the loop trains (the DDP wrapper)
        def on_train_begin(self, state):
            self.kind, self.ref = type(self.context.model).__name__, weakref.ref(self.context.model)

    rank = int(os.environ.get("RANK", "0"))
    written = []
    real_replace = os.replace
    def spy_replace(src, dst, *a, **k):
        written.append(str(dst))
        return real_replace(src, dst, *a, **k)
    os.replace = spy_replace
    spy = WrapperSpy()
    result = batchlab.fit(sys.argv[1], run_dir=sys.argv[2], progress=False, callbacks=[spy])
    Path(sys.argv[3], f"rank{rank}.json").write_text(json.dumps(
        {"written": written, "history": [{k: v for k, v in r.items() if k != "seconds"} for r in result.history],
         "stop_reason": result.stop_reason, "wrapper": spy.kind, "wrapper_alive": spy.ref() is not None,
         "result_model": type(result.parts.model).__name__}))
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    (root / "config.yaml").write_text(CONFIG)
    (root / "worker.py").write_text(WORKER)
    (root / "records").mkdir()
    two = _torchrun("--standalone", "--nproc-per-node=2", "worker.py", "config.yaml", "two", "records", cwd=root)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run(
        [sys.executable, "-m", "batchlab", "train", "config.yaml", "--run-dir", "one", "-q"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr
    return root


def test_two_workers_reach_the_weights_of_one_process_with_the_same_global_batch(runs: Path) -> None:
    one, two = load_weights(runs / "one" / "model.safetensors"), load_weights(runs / "two" / "model.safetensors")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5)
    info = json.loads((runs / "two" / "run.json").read_text())
    assert info["world_size"] == 2 and info["global_batch"] == 64 and info["per_worker_batch"] == 32
    assert info["batches_per_epoch"] == json.loads((runs / "one" / "run.json").read_text())["batches_per_epoch"]


def test_metrics_and_early_stopping_agree_across_ranks(runs: Path) -> None:
    rank0 = json.loads((runs / "records" / "rank0.json").read_text())
    rank1 = json.loads((runs / "records" / "rank1.json").read_text())
    assert rank0["history"] == rank1["history"]
    assert rank0["stop_reason"] == rank1["stop_reason"]
    single = (runs / "one" / "metrics.csv").read_text().splitlines()
    double = (runs / "two" / "metrics.csv").read_text().splitlines()
    assert len(single) == len(double)
    # summed, not averaged per rank: the same accuracies as one process (losses up to float rounding)
    header = single[0].split(",")
    accuracy = header.index("val_accuracy")
    assert [r.split(",")[accuracy] for r in single[1:]] == [r.split(",")[accuracy] for r in double[1:]]


def test_only_rank_zero_writes_files(runs: Path) -> None:
    rank0 = json.loads((runs / "records" / "rank0.json").read_text())
    rank1 = json.loads((runs / "records" / "rank1.json").read_text())
    assert rank1["written"] == []
    assert any(path.endswith("metrics.csv") for path in rank0["written"])
    assert any("checkpoints" in path for path in rank0["written"])


def test_the_wrapper_and_its_process_group_do_not_outlive_the_run(runs: Path) -> None:
    # Left alive (by the result or a callback) until interpreter exit, the wrapper's gloo group aborted
    # a finished worker now and then ("terminate called without an active exception").
    for rank in (0, 1):
        record = json.loads((runs / "records" / f"rank{rank}.json").read_text())
        assert record["wrapper"] == "DistributedDataParallel"
        assert not record["wrapper_alive"], "the DistributedDataParallel wrapper is still referenced after fit"
        assert record["result_model"] != "DistributedDataParallel"


def test_an_indivisible_global_batch_is_a_clear_error(runs: Path) -> None:
    done = _torchrun(
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "batchlab",
        "train",
        "config.yaml",
        "--set",
        "train.batch_size=65",
        "--run-dir",
        "odd",
        "-q",
        cwd=runs,
    )
    assert done.returncode != 0
    assert "train.batch_size: the global batch 65 does not divide among 2 workers; use 64 or 66" in done.stderr
    assert not (runs / "odd").exists()


def test_nproc_checks_the_batch_before_launching(runs: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "batchlab", "train", "config.yaml", "--nproc", "3", "--run-dir", "odd3", "-q"],
        cwd=runs,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "batchlab: error: train.batch_size: the global batch 64 does not divide among 3 workers; use 63 or 66"
    )


def test_nproc_shortcut_and_resume_on_one_worker(runs: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchlab",
            "train",
            "config.yaml",
            "--nproc",
            "2",
            "--run-dir",
            "short",
            "-q",
            "--set",
            "train.epochs=2",
        ],
        cwd=runs,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Run directory:") == 1  # printed by rank 0 only
    # a checkpoint written by two workers resumes on one (same global batch)
    cfg = (runs / "short" / "config.yaml").read_text().replace("epochs: 2", "epochs: 3")
    (runs / "short" / "config.yaml").write_text(cfg)
    resumed = subprocess.run(
        [sys.executable, "-m", "batchlab", "train", "--resume", "short", "-q"],
        cwd=runs,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = (runs / "short" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3


def test_two_hosts_meet_on_the_loopback_address(runs: Path) -> None:
    port = _free_port()
    common = [
        "--nnodes=2",
        "--nproc-per-node=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{port}",
        "--rdzv-id=batchlab-test",
        "-m",
        "batchlab",
        "train",
        "config.yaml",
        "--run-dir",
        "hosts",
        "-q",
        "--set",
        "train.epochs=1",
    ]
    hosts = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", f"--node-rank={rank}", *common],
            cwd=runs,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [h.communicate(timeout=600) for h in hosts]
    assert [h.returncode for h in hosts] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert json.loads((runs / "hosts" / "run.json").read_text())["world_size"] == 2


def test_the_noise_scale_comes_from_local_and_global_gradients(runs: Path) -> None:
    import csv
    import math

    done = _torchrun(
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "batchlab",
        "train",
        "config.yaml",
        "--run-dir",
        "noise",
        "-q",
        "--set",
        "train.noise_scale.enabled=true",
        "--set",
        "train.epochs=2",
        cwd=runs,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((runs / "noise" / "metrics.csv").open()))
    values = [float(r["noise_scale"]) for r in rows]
    assert len(values) == 2 and all(math.isfinite(v) for v in values)
