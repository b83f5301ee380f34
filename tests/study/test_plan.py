"""Epoch plans of study cells: steps, samples and tokens of epoch 0, checked against the run builder's own
batches and against counts read off the data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from batchlab.config import make_config
from batchlab.data.pipeline import PreparedData, prepare_data
from batchlab.data.sequences.windows import window_count
from batchlab.experiment.builder import build_run
from batchlab.study.plan import EpochPlan, epoch_plan, has_tokens
from tests.study.conftest import blob_config, corpus_config, text_config


@pytest.fixture(scope="module")
def text_data(texts: Path) -> PreparedData:
    return prepare_data(make_config(text_config(texts)).data)


@pytest.fixture(scope="module")
def corpus_data(corpus: Path) -> PreparedData:
    return prepare_data(make_config(corpus_config(corpus)).data)


@pytest.mark.parametrize("size", ["48tokens", "256tokens", 16])
def test_text_steps_are_those_of_the_built_run(texts: Path, text_data: PreparedData, size: object) -> None:
    config = make_config(text_config(texts, batch_size=size, seed=3))
    plan = epoch_plan(config, text_data)
    assert plan.steps == build_run(config, data=text_data).train.batches_in_epoch(0)


def test_a_text_plan_counts_every_sample_and_valid_token_once(texts: Path, text_data: PreparedData) -> None:
    plan = epoch_plan(make_config(text_config(texts, batch_size="64tokens")), text_data)
    lengths = text_data.train.x.lengths  # type: ignore[union-attr]
    assert plan.samples == len(lengths)
    assert plan.tokens == int(lengths.sum())
    # Each batch pads to its longest sample and a budget bounds samples x longest (a longer sample alone).
    assert plan.tokens <= plan.padded_tokens <= 64 * plan.steps + int(lengths.max())
    assert plan.tokens_per_step == pytest.approx(plan.tokens / plan.steps)
    assert plan.padded_per_sample == pytest.approx(plan.padded_tokens / plan.samples)


def test_accumulation_plans_the_effective_budget(texts: Path, text_data: PreparedData) -> None:
    accumulated = epoch_plan(make_config(text_config(texts, batch_size="64tokens", accumulate=2)), text_data)
    assert accumulated == epoch_plan(make_config(text_config(texts, batch_size="128tokens")), text_data)


def test_language_model_steps_count_windows_not_tokens(corpus: Path, corpus_data: PreparedData) -> None:
    stream = corpus_data.train.ids  # type: ignore[union-attr]
    windows = window_count(len(stream), 16, random_offset=True)
    plan = epoch_plan(make_config(corpus_config(corpus, batch_size=8)), corpus_data)
    assert plan.steps == math.ceil(windows / 8)
    assert plan.steps != math.ceil(len(stream) / 8)  # what a formula on the split's length would give
    assert (plan.samples, plan.tokens, plan.padded_tokens) == (windows, windows * 16, windows * 16)
    # A budget of 128 tokens is 128 // 16 = 8 windows: the same batches.
    assert epoch_plan(make_config(corpus_config(corpus, batch_size="128tokens")), corpus_data) == plan


def test_fixed_size_samples_use_the_batch_count_formula(blobs: Path) -> None:
    config = make_config(blob_config(blobs, batch_size=16))
    data = prepare_data(config.data)
    assert not has_tokens(data)
    assert epoch_plan(config, data) == EpochPlan(math.ceil(180 / 16), 180)
    dropped = make_config(blob_config(blobs, batch_size=16, drop_last=True))
    assert epoch_plan(dropped, data) == EpochPlan(180 // 16, 180 // 16 * 16)


def test_text_has_tokens(text_data: PreparedData, corpus_data: PreparedData) -> None:
    assert has_tokens(text_data) and has_tokens(corpus_data)
