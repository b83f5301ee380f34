from __future__ import annotations

import pytest
import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import GPT, generate

VOCAB = 10


class FixedLogits(nn.Module):
    """A stand-in language model: the same next-token logits at every step; records window lengths."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits)
        self.windows: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.windows.append(x.shape[1])
        return self.logits.expand(x.shape[0], x.shape[1], -1)


def _gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(InputSpec("tokens", (), vocab_size=VOCAB, max_length=8), ModelConfig(name="gpt", embed=16, heads=2))


def _sample(model: nn.Module, seed: int, **options: object) -> torch.Tensor:
    settings: dict[str, object] = {"temperature": 1.0, "top_k": None, "context": 8, **options}
    return generate(model, torch.tensor([1, 2, 3]), 20, generator=torch.Generator().manual_seed(seed), **settings)  # type: ignore[arg-type]


def test_same_seed_same_tokens() -> None:
    model = _gpt()
    first = _sample(model, 0)
    assert first.shape == (23,) and first[:3].tolist() == [1, 2, 3]
    assert torch.equal(first, _sample(model, 0))
    assert not torch.equal(first, _sample(model, 1))


def test_greedy_takes_the_argmax_at_every_step() -> None:
    model = _gpt().eval()
    ids = _sample(model, 0, temperature=0.0)
    for t in range(3, ids.shape[0]):
        window = ids[max(0, t - 8) : t]
        assert ids[t].item() == model(window[None])[0, -1].argmax().item()
    assert torch.equal(ids, _sample(model, 5, temperature=0.0))  # no randomness
    assert torch.equal(ids, _sample(model, 5, top_k=1))


def test_top_k_restricts_the_support() -> None:
    logits = torch.tensor([0.0, 3.0, 1.0, 2.9, 0.5, 2.8, 0.0, 0.0, 0.0, 0.1])
    model = FixedLogits(logits)
    free = generate(model, torch.tensor([0]), 400, temperature=2.0, top_k=None,
                    generator=torch.Generator().manual_seed(0), context=4)[1:]  # fmt: skip
    kept = generate(model, torch.tensor([0]), 400, temperature=2.0, top_k=3,
                    generator=torch.Generator().manual_seed(0), context=4)[1:]  # fmt: skip
    assert set(kept.tolist()) == {1, 3, 5}
    assert len(set(free.tolist())) > 3


def test_low_temperature_concentrates_on_the_mode() -> None:
    model = FixedLogits(torch.tensor([0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    cold = _sample(model, 0, temperature=0.05)[3:]
    hot = _sample(model, 0, temperature=1.0)[3:]
    assert (cold == 1).all() and not (hot == 1).all()


def test_the_window_is_cropped_to_the_context_and_the_mode_restored() -> None:
    model = FixedLogits(torch.zeros(VOCAB)).train()
    _sample(model, 0, context=5)
    assert model.windows == [3, 4, 5] + [5] * 17 and model.training


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -1.0}, "temperature: expected a number >= 0"),
        ({"top_k": 0}, "top_k: expected a positive integer"),
        ({"context": 0}, "context: expected a positive number of tokens"),
    ],
)
def test_invalid_options_are_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _sample(_gpt(), 0, **options)


def test_an_empty_prompt_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="prompt: expected at least one token id"):
        generate(_gpt(), torch.tensor([], dtype=torch.long), 3, temperature=1.0, top_k=None,
                 generator=torch.Generator(), context=8)  # fmt: skip
