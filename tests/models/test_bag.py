from __future__ import annotations

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import BagOfEmbeddings
from batchlab.models.bag import ngram_ids
from tests.models.conftest import FEATURES, VOCAB, contains_five_task, fit, padding_gap, token_sample

SPEC = InputSpec("tokens", (), vocab_size=VOCAB, variable_length=True)


def _bag(**fields: object) -> BagOfEmbeddings:
    torch.manual_seed(0)
    return BagOfEmbeddings(SPEC, 2, ModelConfig(**{"name": "bag", "embed": 16, "hidden": [16], **fields}))  # type: ignore[arg-type]


@pytest.mark.parametrize("garbage", [False, True])
def test_padding_does_not_change_the_output(garbage: bool) -> None:
    model = _bag(batchnorm=True, dropout=0.3)
    assert padding_gap(model, token_sample(4), [token_sample(9), token_sample(1)], garbage=garbage) < 1e-5


def test_output_is_the_head_of_the_mean_embedding() -> None:
    model = _bag(hidden=[]).eval()
    x = torch.tensor([[3, 4, 7, 0, 0]])
    mean = model.embedding.layer.weight[[3, 4, 7]].mean(0)
    torch.testing.assert_close(model(x, torch.tensor([3]))[0], model.head(mean[None])[0])


def test_word_order_is_ignored() -> None:
    model = _bag().eval()
    x = token_sample(8)
    torch.testing.assert_close(model(x[None]), model(x.flip(0)[None]))


def test_frames_are_refused() -> None:
    with pytest.raises(ConfigError, match="model.name: bag averages token embeddings, got frames data"):
        BagOfEmbeddings(InputSpec("frames", (FEATURES,)), 2, ModelConfig(name="bag"))


def test_overfits_a_tiny_task() -> None:
    x, lengths, y = contains_five_task()
    assert fit(_bag(), x, lengths, y, steps=100, lr=1e-2) < 0.1


@pytest.mark.parametrize("garbage", [False, True])
def test_hashed_ngrams_ignore_padding_too(garbage: bool) -> None:
    model = _bag(ngrams=4, ngram_buckets=97)
    assert padding_gap(model, token_sample(5), [token_sample(11), token_sample(2)], garbage=garbage) < 1e-5


def test_hashed_ngrams_see_local_order() -> None:
    model = _bag(ngrams=3, ngram_buckets=1024).eval()
    x = torch.tensor([3, 4, 5, 6, 7])
    assert not torch.allclose(model(x[None]), model(x.flip(0)[None]))  # unigrams alone could not tell these apart
    grams, valid = ngram_ids(x[None], torch.ones(1, 5, dtype=torch.bool), 3, 1024)
    assert grams.shape == (1, 4 + 3) and bool(valid.all())  # 4 bigrams and 3 trigrams
