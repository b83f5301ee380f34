from __future__ import annotations

import math

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import RecurrentLanguageModel
from tests.models.conftest import VOCAB, fit, padding_gap, token_sample

SPEC = InputSpec("tokens", (), vocab_size=VOCAB, max_length=16)


def _lm(**fields: object) -> RecurrentLanguageModel:
    torch.manual_seed(0)
    cfg = ModelConfig(**{"name": "lstm", "embed": 16, "layers": 2, **fields})  # type: ignore[arg-type]
    return RecurrentLanguageModel(SPEC, cfg)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_logits_up_to_t_do_not_depend_on_later_tokens(name: str) -> None:
    model = _lm(name=name).eval()
    x = torch.randint(0, VOCAB, (2, 16))
    changed = x.clone()
    changed[:, 5:] = (changed[:, 5:] + 3) % VOCAB
    a, b = model(x), model(changed)
    assert a.shape == (2, 16, VOCAB)
    torch.testing.assert_close(a[:, :5], b[:, :5], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_padding_does_not_change_the_logits_of_valid_steps() -> None:
    assert padding_gap(_lm(), token_sample(7), [token_sample(10), token_sample(2)], garbage=True) < 1e-5


def test_tied_weights_share_one_parameter_with_a_projection_when_widths_differ() -> None:
    same = _lm(units=16)
    assert same.decoder.weight is same.embedding.layer.weight and isinstance(same.project, torch.nn.Identity)
    wider = _lm(units=24)
    assert wider.decoder.weight is wider.embedding.layer.weight
    assert isinstance(wider.project, torch.nn.Linear) and wider.project.in_features == 24
    untied = _lm(units=24, tie_embeddings=False)
    assert untied.decoder.weight is not untied.embedding.layer.weight and untied.decoder.in_features == 24


def test_bidirectional_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model\.bidirectional: a language model reads left to right"):
        _lm(bidirectional=True)


def test_memorizes_a_few_windows() -> None:
    torch.manual_seed(1)
    x = torch.randint(0, VOCAB, (8, 17))
    model = _lm(name="gru", layers=1, embed=32)
    assert fit(model, x[:, :-1], None, x[:, 1:], steps=150, lr=2e-2) < 0.5


def test_starts_near_the_uniform_prediction() -> None:
    torch.manual_seed(0)
    vocab = 65
    model = RecurrentLanguageModel(InputSpec("tokens", (), vocab_size=vocab), ModelConfig(name="lstm", embed=128))
    x, y = torch.randint(0, vocab, (2, 8, 16))
    loss = torch.nn.functional.cross_entropy(model.eval()(x).flatten(0, 1), y.flatten()).item()
    assert loss == pytest.approx(math.log(vocab), abs=0.03)
