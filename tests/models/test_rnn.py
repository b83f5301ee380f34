from __future__ import annotations

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import RecurrentClassifier
from batchlab.models.rnn import run_recurrent
from tests.models.conftest import (
    FEATURES,
    VOCAB,
    contains_five_task,
    fit,
    frame_sample,
    padding_gap,
    token_sample,
)

TOKENS = InputSpec("tokens", (), vocab_size=VOCAB, variable_length=True)
FRAMES = InputSpec("frames", (FEATURES,), variable_length=True)


def _model(spec: InputSpec, **fields: object) -> RecurrentClassifier:
    torch.manual_seed(0)
    cfg = ModelConfig(**{"name": "lstm", "embed": 8, "units": 12, "layers": 2, "hidden": [8], **fields})  # type: ignore[arg-type]
    return RecurrentClassifier(spec, 3, cfg)


@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
def test_padding_does_not_change_the_output_of_tokens(name: str, bidirectional: bool, pooling: str) -> None:
    model = _model(TOKENS, name=name, bidirectional=bidirectional, pooling=pooling, dropout=0.2)
    assert padding_gap(model, token_sample(6), [token_sample(14), token_sample(1)], garbage=True) < 1e-5


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_padding_does_not_change_the_output_of_frames(name: str) -> None:
    model = _model(FRAMES, name=name, bidirectional=True, pooling="last", batchnorm=True)
    assert padding_gap(model, frame_sample(5), [frame_sample(11), frame_sample(2)], garbage=True) < 1e-5


def test_last_pooling_reads_both_directions_to_their_ends() -> None:
    model = _model(TOKENS, bidirectional=True, pooling="last", layers=1).eval()
    x = token_sample(9)[None]
    outputs, _ = run_recurrent(model.rnn, model.embedding(x), None)
    units = model.rnn.hidden_size
    expected = torch.cat([outputs[0, -1, :units], outputs[0, 0, units:]])
    torch.testing.assert_close(model.encode(x)[0], expected)


def test_outputs_are_zero_at_padded_steps() -> None:
    model = _model(TOKENS, bidirectional=True)
    x = torch.randint(1, VOCAB, (2, 6))
    outputs, hidden = run_recurrent(model.rnn, model.embedding(x), torch.tensor([6, 2]))
    assert outputs.shape == (2, 6, 24) and hidden.shape == (4, 2, 12)
    assert (outputs[1, 2:] == 0).all() and (outputs[0] != 0).any()


def test_units_default_to_embed_and_dropout_sits_between_layers() -> None:
    model = RecurrentClassifier(TOKENS, 2, ModelConfig(name="gru", embed=10, layers=3, dropout=0.3))
    assert model.rnn.hidden_size == 10 and model.rnn.num_layers == 3 and model.rnn.dropout == 0.3
    single = RecurrentClassifier(TOKENS, 2, ModelConfig(name="gru", embed=10, layers=1, dropout=0.3))
    assert single.rnn.dropout == 0.0  # torch warns about dropout on a single layer


def test_cls_pooling_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model\.pooling: lstm pools with mean, max or last, got 'cls'"):
        _model(TOKENS, pooling="cls")


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_overfits_a_tiny_task(name: str) -> None:
    x, lengths, y = contains_five_task()
    model = _model(TOKENS, name=name, pooling="max", layers=1, units=16, embed=16)
    assert fit(model, x, lengths, y, steps=100, lr=1e-2) < 0.1
