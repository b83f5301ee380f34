"""The shared tracker of a monitored metric: which direction counts as better."""

from __future__ import annotations

from batchlab.train.callbacks.tracker import resolve_mode


def test_mode_auto_minimizes_losses_and_maximizes_scores() -> None:
    assert resolve_mode("val_loss", "auto") == "min"
    assert resolve_mode("val_mae", "auto") == "min"
    assert resolve_mode("val_accuracy", "auto") == "max"
    assert resolve_mode("val_r2", "auto") == "max"
    assert resolve_mode("val_bpc", "auto") == "min"  # bits per character of a language model
    assert resolve_mode("val_perplexity", "auto") == "min"
