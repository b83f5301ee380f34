"""Budgets in epochs, steps, samples and tokens."""

from __future__ import annotations

import pytest

from batchlab.errors import ConfigError
from batchlab.study.budget import Budget, parse_budget


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20epochs", Budget(20, "epochs")),
        ("5000steps", Budget(5000, "steps")),
        ("1e6samples", Budget(1e6, "samples")),
        ("0.5 epoch", Budget(0.5, "epochs")),
        ("12", Budget(12, "epochs")),
        ("2e6tokens", Budget(2e6, "tokens")),
        ("1500 token", Budget(1500, "tokens")),
    ],
)
def test_budgets_parse(text: str, expected: Budget) -> None:
    assert parse_budget(text) == expected


def test_a_bare_warmup_number_means_steps() -> None:
    assert parse_budget("200", option="--warmup", default_unit="steps") == Budget(200, "steps")


@pytest.mark.parametrize("text", ["lots", "20 parsecs", "-3epochs", "0steps", "2.5steps"])
def test_bad_budgets_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--budget"):
        parse_budget(text)


def test_budget_in_steps_per_unit() -> None:
    assert Budget(1e4, "samples").steps(effective_batch=32, steps_per_epoch=40) == 313  # ceil(10000 / 32)
    assert Budget(2.5, "epochs").steps(effective_batch=32, steps_per_epoch=40) == 100
    assert Budget(7, "steps").steps(effective_batch=32, steps_per_epoch=40) == 7
    assert Budget(1, "samples").steps(effective_batch=32, steps_per_epoch=40) == 1  # at least one step


def test_budget_in_tokens_is_valid_tokens_over_tokens_per_step() -> None:
    budget = parse_budget("1e5tokens")
    assert budget.steps(effective_batch=32, steps_per_epoch=40, tokens_per_step=700.0) == 143  # ceil(1e5 / 700)
    assert (
        parse_budget("2000tokens", option="--warmup").steps(
            effective_batch=3.5, steps_per_epoch=40, tokens_per_step=400.0
        )
        == 5
    )
    with pytest.raises(ValueError, match="tokens per step"):
        budget.steps(effective_batch=32, steps_per_epoch=40)
