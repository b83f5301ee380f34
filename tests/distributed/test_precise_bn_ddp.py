"""Precise batch norm under data parallelism: two gloo workers end with the same statistics.

Each worker recomputes the running statistics on its own share of the batches; the result on every
worker is the average over all workers' batches, which one process computes over the same batches.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from batchlab.data.batch import Batch
from batchlab.models.norms import GhostBatchNorm
from batchlab.train.precise_bn import recompute_batch_norm

pytestmark = pytest.mark.slow

BATCHES, SHARE = 6, 8  # global batches of 16 samples, 8 per worker


def make_model() -> nn.Module:
    """Batch norm and ghost batch norm (two ghost batches per worker's share), weights from seed 0."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 4), GhostBatchNorm(4, 4))


def shares(rank: int) -> list[Batch]:
    """Worker ``rank``'s share of each global batch; the two workers' data differ in scale and offset."""
    generator = torch.Generator().manual_seed(1)
    data = torch.randn(BATCHES, 2 * SHARE, 3, generator=generator)
    data[:, SHARE:] = data[:, SHARE:] * 3 + 2
    return [Batch(batch[rank * SHARE : (rank + 1) * SHARE], torch.zeros(SHARE)) for batch in data]


WORKER = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    from batchlab.train.distributed import DistributedInfo, init_distributed
    from batchlab.train.precise_bn import recompute_batch_norm
    from tests.distributed.test_precise_bn_ddp import make_model, shares

    info = DistributedInfo.from_env()
    init_distributed(info)
    model = torch.nn.parallel.DistributedDataParallel(make_model())
    model(shares(info.rank)[0].x)  # a training step's forward pass: the workers' statistics now differ
    passes = recompute_batch_norm(model, shares(info.rank), 100)
    torch.save({"passes": passes, "state": model.module.state_dict()}, f"{sys.argv[1]}/rank{info.rank}.pt")
    dist.barrier()
    del model  # the wrapper holds the group: destroyed with it here, not at interpreter exit
    dist.destroy_process_group()
    """
)


def test_every_worker_gets_the_statistics_of_all_workers_batches(tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    done = subprocess.run(
        [*command, str(tmp_path / "worker.py"), str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": f"{root / 'src'}:{root}", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    # One process, the same micro-batches (every worker's share of every batch).
    single = make_model()
    passes = recompute_batch_norm(single, shares(0) + shares(1), 100)
    alone = make_model()  # the statistics of the first worker's batches only
    recompute_batch_norm(alone, shares(0), 100)
    for key, expected in single.state_dict().items():
        if "running" in key or "num_batches" in key:
            for rank in ranks:
                torch.testing.assert_close(rank["state"][key], expected, rtol=1e-5, atol=1e-6)
    assert ranks[0]["passes"] == ranks[1]["passes"] == passes == 2 * BATCHES  # the forward passes of both workers
    assert int(ranks[1]["state"]["4.num_batches_tracked"]) == 2 * 2 * BATCHES  # two ghost batches per share
    assert not torch.allclose(ranks[0]["state"]["1.running_mean"], alone.state_dict()["1.running_mean"], atol=1e-3)
