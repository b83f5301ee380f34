"""Schedule cells against the fixed sizes of a study: the Pareto front and the ramp's final size."""

from __future__ import annotations

from typing import Any

from batchlab.study.results import size_summary
from batchlab.study.schedule_results import schedule_sentences
from batchlab.study.targets import parse_target


def _row(
    size: str, steps: int, samples: int, *, schedule: str | None = None, final: int | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {"size": size, "unit": "samples", "schedule": schedule, "schedule_end": final, "seed": 0}
    row.update(batch_size=int(size) if schedule is None else 32, reached=True, batches_per_epoch=1, steps=steps, lr=0.1)
    row.update(steps_to_target=steps, samples_to_target=samples)
    return row


FIXED = [_row("32", 400, 12_800), _row("128", 120, 15_360), _row("512", 60, 30_720)]


def test_a_schedule_on_the_front_and_a_dominated_one() -> None:
    rows = [
        *FIXED,
        _row("adaptive32-512", 150, 13_000, schedule="adaptive"),
        _row("ramp32-512", 130, 16_000, schedule="ramp", final=512),
    ]
    summary = size_summary(rows)
    assert [s["size"] for s in summary] == ["32", "128", "512", "adaptive32-512", "ramp32-512"]
    lines = schedule_sentences(summary, parse_target("val_accuracy=0.9"))
    assert "adaptive32-512: 150 steps and 13,000 samples" in lines[0] and "on the Pareto front" in lines[0]
    assert "dominated by batch 128" in lines[1]
    assert "no more than a fixed batch of its end size 512 in samples (0.52x" in lines[1]


def test_a_ramp_that_needs_more_samples_than_its_final_size_says_so() -> None:
    rows = [*FIXED, _row("ramp32-128", 100, 16_000, schedule="ramp", final=128)]
    lines = schedule_sentences(size_summary(rows), parse_target("val_accuracy=0.9"))
    assert "more than a fixed batch of its end size 128 in samples (1.04x" in lines[0]
