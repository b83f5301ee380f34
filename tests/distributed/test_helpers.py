"""``batchlab.train.distributed`` on one process: dividing a global batch among workers, collectives."""

from __future__ import annotations

import pytest

from batchlab.errors import ConfigError
from batchlab.train.distributed import DistributedInfo, all_reduce_sum, any_rank, broadcast_object, per_worker_batch


def test_a_global_batch_divides_among_workers() -> None:
    assert per_worker_batch(64, 2) == 32
    assert per_worker_batch(96, 3) == 32


def test_an_indivisible_batch_names_the_sizes_that_would_divide() -> None:
    with pytest.raises(
        ConfigError, match=r"train.batch_size: the global batch 100 does not divide among 3 workers; use 99 or 102"
    ):
        per_worker_batch(100, 3)
    with pytest.raises(ConfigError, match=r"use at most 2 workers or a batch of at least 4$"):
        per_worker_batch(2, 4)


def test_one_process_needs_no_collectives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = DistributedInfo.from_env()
    assert not info.enabled and info.is_main
    import torch

    values = torch.tensor([1.0, 2.0])
    assert torch.equal(all_reduce_sum(values), torch.tensor([1.0, 2.0]))
    assert any_rank(True) and not any_rank(False)
    assert broadcast_object("run") == "run"
