"""Run components: augmentation reaches training batches only; batch-size checks; devices."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from batchlab.config import make_config
from batchlab.data.pipeline import PreparedData, Split
from batchlab.errors import ConfigError
from batchlab.experiment.components import check_batch_size, eval_batches, resolve_device, train_batches
from batchlab.inputs import InputSpec

IMAGE = InputSpec.from_shape((1, 6, 6))


def _images() -> Split:
    g = torch.Generator().manual_seed(0)
    return Split(torch.rand(20, 1, 6, 6, generator=g), torch.arange(20))


def _prepared(split: Split) -> PreparedData:
    pre = SimpleNamespace(task_="classification", classes_=[str(i) for i in range(20)], input_spec_=IMAGE)
    return PreparedData(train=split, val=None, test=None, preprocessor=pre)  # type: ignore[arg-type]


def test_augmentation_changes_training_batches_and_never_evaluation_batches() -> None:
    config = make_config({"data": {"augment": [{"hflip": {"p": 1.0}}]}, "train": {"batch_size": 5}})
    split = _images()
    train = train_batches(config, _prepared(split), torch.device("cpu"))
    for batch in train.epoch(0):
        xb, yb = batch.x, batch.y
        assert torch.equal(xb, split.x[yb].flip(-1))  # p=1: every training image is mirrored
    evaluation = eval_batches(split, IMAGE, torch.device("cpu"))
    (batch,) = list(evaluation.epoch(0))
    xb, yb = batch.x, batch.y
    assert torch.equal(xb, split.x) and torch.equal(yb, split.y)


def test_augmentation_is_reproducible_per_batch_position() -> None:
    config = make_config({"data": {"augment": [{"rotate": {"degrees": 30}}]}, "train": {"batch_size": 4}})
    split = _images()
    first = [b.x for b in train_batches(config, _prepared(split), torch.device("cpu")).epoch(2)]
    again = [b.x for b in train_batches(config, _prepared(split), torch.device("cpu")).epoch(2, start_batch=3)]
    assert torch.equal(first[3], again[0])  # a resumed epoch sees the same augmentation


def test_batch_size_larger_than_the_training_split_names_full() -> None:
    with pytest.raises(
        ConfigError, match=r'train.batch_size: 500 is larger than the training split \(100 samples\).*"full"'
    ):
        check_batch_size(make_config({"train": {"batch_size": 500}}), 100)
    check_batch_size(make_config({"train": {"batch_size": "full"}}), 100)


def test_an_unavailable_device_is_a_config_error() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="train.device"):
            resolve_device("cuda")
