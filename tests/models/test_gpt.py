from __future__ import annotations

import math

import pytest
import torch

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError, DataError
from batchlab.inputs import InputSpec
from batchlab.models import GPT
from tests.models.conftest import VOCAB, fit, padding_gap, token_sample

SPEC = InputSpec("tokens", (), vocab_size=VOCAB, max_length=16)


def _gpt(**fields: object) -> GPT:
    torch.manual_seed(0)
    return GPT(SPEC, ModelConfig(name="gpt", embed=16, layers=2, heads=2, **fields))  # type: ignore[arg-type]


def test_logits_at_every_step() -> None:
    assert _gpt()(torch.randint(0, VOCAB, (3, 16))).shape == (3, 16, VOCAB)


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_logits_up_to_t_do_not_depend_on_later_tokens(positions: str) -> None:
    model = _gpt(positions=positions).eval()
    x = torch.randint(0, VOCAB, (1, 16))
    changed = x.clone()
    changed[0, 9:] = (changed[0, 9:] + 1) % VOCAB
    a, b = model(x), model(changed)
    torch.testing.assert_close(a[:, :9], b[:, :9], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_padding_after_a_window_does_not_change_its_logits() -> None:
    model = _gpt()
    assert padding_gap(model, token_sample(7), [token_sample(12), token_sample(3)], garbage=True) < 1e-5


def test_output_layer_is_tied_to_the_token_embedding() -> None:
    tied, untied = _gpt(), _gpt(tie_embeddings=False)
    assert tied.head.weight is tied.embedding.layer.weight
    assert untied.head.weight is not untied.embedding.layer.weight
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters()) == VOCAB * 16


def test_parameter_count_matches_the_closed_form() -> None:
    vocab, context, embed, layers = 65, 64, 128, 4
    model = GPT(
        InputSpec("tokens", (), vocab_size=vocab, max_length=context),
        ModelConfig(name="gpt", embed=embed, layers=layers, heads=4),
    )
    per_block = 12 * embed * embed + 13 * embed  # qkv, proj, expand, contract (with biases), two norms
    expected = vocab * embed + context * embed + layers * per_block + 2 * embed
    assert sum(p.numel() for p in model.parameters()) == expected


def test_initialization_follows_gpt2() -> None:
    torch.manual_seed(0)
    layers = 4
    model = GPT(
        InputSpec("tokens", (), vocab_size=65, max_length=64), ModelConfig(name="gpt", embed=128, layers=layers)
    )
    block = model.blocks[0]
    assert block.attention.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert block.contract.weight.std().item() == pytest.approx(0.02 / math.sqrt(2 * layers), rel=0.05)
    assert model.embedding.layer.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert (block.attention.qkv.bias == 0).all() and model.head.bias is None


def test_longer_than_the_context_is_a_data_error() -> None:
    with pytest.raises(DataError, match="input of 17 steps is longer than the 16 positions"):
        _gpt()(torch.zeros(1, 17, dtype=torch.long))


def test_needs_a_context() -> None:
    with pytest.raises(ConfigError, match=r"gpt needs a context length"):
        GPT(InputSpec("tokens", (), vocab_size=VOCAB), ModelConfig(name="gpt"))


def test_memorizes_a_few_windows() -> None:
    torch.manual_seed(1)
    x = torch.randint(0, VOCAB, (8, 17))
    model = _gpt()
    assert fit(model, x[:, :-1], None, x[:, 1:], steps=150, lr=1e-2) < 0.5


def test_starts_near_the_uniform_prediction() -> None:
    model = _gpt().eval()
    x, y = torch.randint(0, VOCAB, (2, 4, 16))
    loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    assert loss == pytest.approx(math.log(VOCAB), abs=0.03)
