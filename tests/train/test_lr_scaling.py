"""LR scaling rules against their formulas."""

from __future__ import annotations

import math

import pytest

from batchlab.train.lr_scaling import scaled_lr


@pytest.mark.parametrize("batch", [1, 7, 32, 128, 1000])
def test_rules_match_their_formulas(batch: int) -> None:
    assert scaled_lr(0.05, batch_size=batch, base_batch_size=32, rule="none") == 0.05
    assert scaled_lr(0.05, batch_size=batch, base_batch_size=32, rule="linear") == pytest.approx(0.05 * batch / 32)
    assert scaled_lr(0.05, batch_size=batch, base_batch_size=32, rule="sqrt") == pytest.approx(
        0.05 * math.sqrt(batch / 32)
    )


def test_the_base_batch_keeps_the_rate() -> None:
    for rule in ("none", "linear", "sqrt"):
        assert scaled_lr(0.3, batch_size=64, base_batch_size=64, rule=rule) == 0.3


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown lr scaling rule"):
        scaled_lr(0.1, batch_size=2, base_batch_size=1, rule="cubic")
    with pytest.raises(ValueError, match="positive"):
        scaled_lr(0.1, batch_size=0, base_batch_size=1, rule="linear")
