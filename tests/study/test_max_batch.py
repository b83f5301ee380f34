"""The max-batch finder against a fake memory limit, the accumulation proposal, and one real probe."""

from __future__ import annotations

import pytest

from batchlab.config import make_config
from batchlab.study.max_batch import find_max_batch, find_max_batch_for_config, propose_accumulation

MIB = 2**20


def linear_memory(base: int, per_sample: int, oom_above: int | None = None) -> tuple[list[int], object]:
    """A fake probe: ``base + per_sample * b`` bytes; MemoryError above ``oom_above``. Records its calls."""
    calls: list[int] = []

    def probe(micro_batch: int) -> int:
        calls.append(micro_batch)
        if oom_above is not None and micro_batch > oom_above:
            raise MemoryError(f"fake out of memory at {micro_batch}")
        return base + per_sample * micro_batch

    return calls, probe


def test_the_largest_fitting_micro_batch_is_found_within_the_precision() -> None:
    calls, probe = linear_memory(100 * MIB, MIB)  # fits up to 500 samples in 600 MiB
    best, probes = find_max_batch(probe, budget_bytes=600 * MIB, largest=10_000)  # type: ignore[arg-type]
    assert 500 - 500 // 16 <= best <= 500
    assert all(p.fits == (p.micro_batch <= 500) for p in probes)
    assert calls[:10] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def test_exact_precision_finds_the_boundary() -> None:
    _, probe = linear_memory(100 * MIB, MIB)
    best, _ = find_max_batch(probe, budget_bytes=600 * MIB, largest=10_000, precision=0.0)  # type: ignore[arg-type]
    assert best == 500


def test_out_of_memory_errors_count_as_not_fitting() -> None:
    _, probe = linear_memory(0, 1, oom_above=300)
    best, probes = find_max_batch(probe, budget_bytes=10**9, largest=4096, precision=0.0)  # type: ignore[arg-type]
    assert best == 300
    assert any(p.error and "fake out of memory" in p.error for p in probes)


def test_probes_predicted_far_over_the_budget_are_not_run() -> None:
    calls, probe = linear_memory(0, 10 * MIB)
    best, probes = find_max_batch(probe, budget_bytes=25 * MIB, largest=1000)  # type: ignore[arg-type]
    assert best == 2
    assert 4 not in calls  # predicted 40 MiB > 1.5 x 25 MiB
    assert next(p for p in probes if not p.measured).micro_batch == 4


def test_the_training_split_bounds_the_search() -> None:
    _, probe = linear_memory(0, 1)
    best, probes = find_max_batch(probe, budget_bytes=10**9, largest=100)  # type: ignore[arg-type]
    assert best == 100 and probes[-1].micro_batch == 100


def test_nothing_fits_gives_zero() -> None:
    _, probe = linear_memory(10**9, 1)
    assert find_max_batch(probe, budget_bytes=10, largest=100)[0] == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("max_micro", "effective", "plan"),
    [
        (300, 1024, (256, 4, 1024, True)),
        (4096, 1000, (1000, 1, 1000, True)),
        (100, 1009, (92, 11, 1012, False)),
        (512, 512, (512, 1, 512, True)),
        (1, 7, (1, 7, 7, True)),
    ],
)
def test_accumulation_keeps_the_effective_batch(max_micro: int, effective: int, plan: tuple) -> None:
    proposal = propose_accumulation(max_micro, effective)
    assert (proposal.micro_batch, proposal.accumulate, proposal.effective_batch, proposal.exact) == plan
    assert proposal.micro_batch <= max_micro


def test_the_config_finder_proposes_and_verifies_with_an_injected_probe() -> None:
    _, probe = linear_memory(200 * MIB, MIB // 4)
    config = make_config({"data": {"source": "iris"}, "train": {"batch_size": 8}})
    result = find_max_batch_for_config(
        config,
        memory=300 * MIB,
        effective_batch=64,
        safety=0.1,
        verify_steps=1,
        probe=probe,  # type: ignore[arg-type]
    )
    assert result.budget_bytes == int(300 * MIB * 0.9)
    assert result.limited_by_data and result.max_micro_batch == 104  # iris: 104 training samples, all fit
    assert result.plan is not None and (result.plan.micro_batch, result.plan.accumulate) == (64, 1)
    assert result.verified_fits


def test_a_real_step_probe_measures_the_process_and_verifies() -> None:
    config = make_config({"data": {"source": "iris"}, "model": {"hidden": [16]}, "train": {"batch_size": 8}})
    result = find_max_batch_for_config(config, memory=64 * 2**30, effective_batch=200, verify_steps=1)
    assert result.max_micro_batch == 104 and result.limited_by_data
    assert result.plan is not None and result.plan.micro_batch * result.plan.accumulate == 200
    assert result.verified is not None and result.verified > 10 * MIB and result.verified_fits
