"""Cell configs of token-budget studies: steps per epoch from the real batches, budgets and warmup in any
unit, and the learning rate scaled by tokens from a base in tokens."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from batchlab.config import make_config
from batchlab.data.pipeline import PreparedData, prepare_data
from batchlab.errors import ConfigError
from batchlab.experiment.builder import build_run
from batchlab.study.budget import parse_budget
from batchlab.study.cell import CellSettings, cell_config
from batchlab.study.sizes import BatchSize
from tests.study.conftest import blob_config, text_config

LR = 0.01


@pytest.fixture(scope="module")
def text_data(texts: Path) -> PreparedData:
    return prepare_data(make_config(text_config(texts)).data)


def _epoch(config: object, data: PreparedData) -> tuple[int, int]:
    """Steps and valid tokens of epoch 0 of the run the builder makes of ``config``."""
    batches = build_run(config, data=data).train  # type: ignore[arg-type]
    return batches.batches_in_epoch(0), batches.padding(0)[0]  # type: ignore[attr-defined]


def test_a_token_cell_takes_budget_warmup_and_evaluation_from_its_real_batches(
    texts: Path, text_data: PreparedData
) -> None:
    config = make_config(text_config(texts, batch_size="128tokens"))
    settings = CellSettings(budget=parse_budget("2.5epochs"), warmup=parse_budget("1epochs"), evals_per_epoch=4)
    cell = cell_config(config, BatchSize(48, unit="tokens"), 2, settings, train_samples=240, data=text_data)
    steps, _ = _epoch(cell, text_data)
    assert cell.train.batch_size == "48tokens" and cell.train.seed == 2
    assert steps > _epoch(config, text_data)[0]  # planned at the cell's budget, not the config's
    assert cell.train.max_steps == math.ceil(2.5 * steps) and cell.train.epochs is None
    assert cell.train.schedule.warmup_steps == steps
    assert cell.train.val_every_steps == steps // 4


def test_budgets_and_warmup_in_tokens_divide_by_valid_tokens_per_step(texts: Path, text_data: PreparedData) -> None:
    config = make_config(text_config(texts, batch_size="128tokens"))
    settings = CellSettings(budget=parse_budget("5000tokens"), warmup=parse_budget("600tokens"))
    cell = cell_config(config, BatchSize(256, unit="tokens"), 0, settings, train_samples=240, data=text_data)
    steps, tokens = _epoch(cell, text_data)
    assert cell.train.max_steps == math.ceil(5000 / (tokens / steps))
    assert cell.train.schedule.warmup_steps == math.ceil(600 / (tokens / steps))
    samples = cell_config(
        config, BatchSize(256, unit="tokens"), 0, CellSettings(budget=parse_budget("480samples")), 240, data=text_data
    )
    assert samples.train.max_steps == math.ceil(2 * steps)  # 480 samples are two epochs of 240


def test_the_lr_is_scaled_by_tokens_from_the_configs_own_budget(texts: Path, text_data: PreparedData) -> None:
    config = make_config(text_config(texts, batch_size="128tokens"))
    for rule, factor in (("linear", 4.0), ("sqrt", 2.0)):
        cell = cell_config(
            config, BatchSize(512, unit="tokens"), 0, CellSettings(lr_rule=rule), train_samples=240, data=text_data
        )
        assert cell.train.lr_scaling.base_batch_size == 128
        assert build_run(cell, data=text_data).lr == pytest.approx(LR * factor)


def test_an_accumulated_budget_scales_the_lr_by_the_tokens_per_step(texts: Path, text_data: PreparedData) -> None:
    config = make_config(text_config(texts, batch_size="128tokens", accumulate=2))
    cell = cell_config(config, BatchSize(128, unit="tokens"), 0, CellSettings(lr_rule="linear"), 240, data=text_data)
    assert cell.train.lr_scaling.base_batch_size == 256  # the config's own step: 2 x 128 tokens
    assert build_run(cell, data=text_data).lr == pytest.approx(LR)
    given = cell_config(
        config,
        BatchSize(128, unit="tokens"),
        0,
        CellSettings(lr_rule="linear", base_batch="64tokens"),
        240,
        data=text_data,
    )
    assert build_run(given, data=text_data).lr == pytest.approx(LR * 256 / 64)


def test_a_base_in_the_other_unit_is_a_one_line_error(texts: Path, text_data: PreparedData) -> None:
    config = make_config(text_config(texts, batch_size="128tokens"))
    with pytest.raises(ConfigError, match=r"^--base-batch: 32 is in samples but the study's batch sizes are in tokens"):
        cell_config(config, BatchSize(512, unit="tokens"), 0, CellSettings(base_batch=32), 240, data=text_data)
    with pytest.raises(ConfigError, match=r"^--base-batch: 64tokens is in tokens .* in samples"):
        cell_config(config, BatchSize(8), 0, CellSettings(base_batch="64tokens"), 240, data=text_data)


def test_a_sample_config_studied_in_tokens_converts_its_base_with_its_own_batches(
    texts: Path, text_data: PreparedData
) -> None:
    config = make_config(text_config(texts, batch_size=16))
    own = build_run(config, data=text_data).train
    padded_per_sample = own.padding(0)[1] / own.num_samples  # type: ignore[attr-defined]
    cell = cell_config(config, BatchSize(256, unit="tokens"), 0, CellSettings(lr_rule="linear"), 240, data=text_data)
    assert cell.train.lr_scaling.base_batch_size == round(16 * padded_per_sample)
    back = cell_config(
        make_config(text_config(texts, batch_size="256tokens")),
        BatchSize(8),
        0,
        CellSettings(lr_rule="linear"),
        240,
        data=text_data,
    )
    own_tokens = build_run(make_config(text_config(texts, batch_size="256tokens")), data=text_data).train
    per_sample = own_tokens.padding(0)[1] / own_tokens.num_samples  # type: ignore[attr-defined]
    assert back.train.lr_scaling.base_batch_size == round(256 / per_sample)


def test_a_budget_in_tokens_on_data_without_tokens_is_refused(blobs: Path) -> None:
    config = make_config(blob_config(blobs))
    data = prepare_data(config.data)
    with pytest.raises(ConfigError, match=r"^--budget: 1000tokens counts tokens, but this data has no tokens"):
        cell_config(config, BatchSize(8), 0, CellSettings(budget=parse_budget("1000tokens")), 180, data=data)
    with pytest.raises(ConfigError, match=r"^--warmup: 50tokens counts tokens"):
        cell_config(config, BatchSize(8), 0, CellSettings(warmup=parse_budget("50tokens")), 180)
