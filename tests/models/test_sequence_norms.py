"""What each norm normalizes over in the sequence models, and that padding never enters it.

- ``model.norm`` on a classifier's dense head (bag, lstm/gru, transformer, audio frame MLP): one pooled
  vector per sequence, so batch and ghost norm couple the sequences of the batch, the others do not.
- ``model.block_norm`` in transformer blocks: per token (layer, group), or batch norm over the valid
  tokens of the whole batch.
- GPT and recurrent language models: per-token norms only (batch statistics would leak later steps).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from batchlab.config import ModelConfig, make_config
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import GPT, BagOfEmbeddings, FrameStatsMLP, RecurrentClassifier, TransformerClassifier
from batchlab.models.rnn_lm import RecurrentLanguageModel
from batchlab.models.token_norm import TokenBatchNorm, TokenGroupNorm, apply_token_norm
from tests.models.conftest import FEATURES, VOCAB, frame_sample, pad, token_sample

NORMS = ["batch", "ghost", "group", "layer", "none"]
TOKENS = InputSpec("tokens", (), vocab_size=VOCAB, max_length=24, variable_length=True)
FRAMES = InputSpec("frames", (FEATURES,), variable_length=True)
LENGTHS = [7, 3, 9, 5]


def _valid_tokens(x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    return torch.cat([x[b, :n] for b, n in enumerate(lengths)])


def test_token_batch_norm_is_batch_norm_over_the_valid_tokens_laid_end_to_end() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 9, 6) * 2 + 1
    mask = torch.arange(9)[None, :] < torch.tensor(LENGTHS)[:, None]
    norm, plain = TokenBatchNorm(6).train(), nn.BatchNorm1d(6).train()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2)
        norm.bias.normal_()
        plain.load_state_dict(norm.state_dict())
    out = norm(x, mask)
    torch.testing.assert_close(_valid_tokens(out, LENGTHS), plain(_valid_tokens(x, LENGTHS)))
    torch.testing.assert_close(norm.running_mean, plain.running_mean)
    torch.testing.assert_close(norm.running_var, plain.running_var)
    # Padding values change nothing at the valid steps, nor the running statistics.
    garbage = x.clone()
    garbage[~mask] = 100 * torch.randn(int((~mask).sum()), 6)
    again = TokenBatchNorm(6).train()
    with torch.no_grad():
        again.weight.copy_(norm.weight)
        again.bias.copy_(norm.bias)
    torch.testing.assert_close(_valid_tokens(again(garbage, mask), LENGTHS), _valid_tokens(out, LENGTHS))
    torch.testing.assert_close(again.running_mean, plain.running_mean)
    torch.testing.assert_close(again.running_var, plain.running_var)
    # ... while plain batch norm over the padded tensor would count the padding.
    unmasked = _valid_tokens(again(x), LENGTHS)
    assert not torch.allclose(unmasked, _valid_tokens(out, LENGTHS), atol=1e-3)
    # Evaluation: the running statistics, per token.
    torch.testing.assert_close(_valid_tokens(norm.eval()(x, mask), LENGTHS), plain.eval()(_valid_tokens(x, LENGTHS)))


def test_token_group_norm_normalizes_each_token_on_its_own() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 5, 8)
    norm = TokenGroupNorm(4, 8)
    out = norm(x)
    per_token = torch.stack([nn.functional.group_norm(x[:, t], 4, norm.weight, norm.bias) for t in range(5)], dim=1)
    torch.testing.assert_close(out, per_token)
    changed = x.clone()
    changed[:, 1:] = changed[:, 1:] * 3 + 1  # every other step
    torch.testing.assert_close(norm(changed)[:, 0], out[:, 0])
    assert apply_token_norm(nn.LayerNorm(8), x, None).shape == x.shape


def _classifier(name: str, norm: str, block_norm: str = "layer") -> nn.Module:
    torch.manual_seed(0)
    fields = {"embed": 8, "units": 8, "layers": 1, "heads": 2, "hidden": [8], "norm": norm, "ghost_batch_size": 4}
    cfg = ModelConfig(name=name if name != "frame_mlp" else "mlp", norm_groups=2, block_norm=block_norm, **fields)  # type: ignore[arg-type]
    if name == "bag":
        return BagOfEmbeddings(TOKENS, 3, cfg)
    if name == "gru":
        return RecurrentClassifier(TOKENS, 3, cfg)
    if name == "transformer":
        return TransformerClassifier(TOKENS, 3, cfg)
    return FrameStatsMLP(FRAMES, 3, cfg)


def _batch(name: str, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    sample = frame_sample if name == "frame_mlp" else token_sample
    return [sample(n, generator) for n in LENGTHS]


def _first_output(model: nn.Module, samples: list[torch.Tensor], time: int, garbage: bool) -> torch.Tensor:
    torch.manual_seed(1)  # the same garbage for the same call
    with torch.no_grad():
        return model.train()(pad(samples, time, garbage=garbage), torch.tensor(LENGTHS))[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["bag", "gru", "transformer", "frame_mlp"])
@pytest.mark.parametrize("norm", NORMS)
def test_head_norm_couples_the_sequences_of_a_batch_only_for_batch_statistics(name: str, norm: str) -> None:
    model = _classifier(name, norm)
    samples = _batch(name, 0)
    base = _first_output(model, samples, 9, garbage=False)
    # In training, with the batch's statistics: padding (its length and its values) changes nothing.
    torch.testing.assert_close(_first_output(model, samples, 14, garbage=True), base)
    # Other sequences in the batch (the first's ghost batch of 4 is the whole batch) move it only
    # under batch and ghost norm, whose statistics are over the pooled vectors of the batch.
    others = [samples[0], *_batch(name, 1)[1:]]
    moved = not torch.allclose(_first_output(model, others, 9, garbage=False), base, atol=1e-5)
    assert moved == (norm in ("batch", "ghost"))


@pytest.mark.parametrize("block_norm", ["layer", "group", "batch", "none"])
def test_transformer_block_norms(block_norm: str) -> None:
    model = _classifier("transformer", "none", block_norm)
    kinds = {"layer": nn.LayerNorm, "group": TokenGroupNorm, "batch": TokenBatchNorm, "none": nn.Identity}
    blocks = model.blocks  # type: ignore[union-attr]
    assert all(type(b.norm1) is type(b.norm2) is kinds[block_norm] for b in blocks)
    assert type(model.norm) is kinds[block_norm]
    samples = _batch("transformer", 0)
    base = _first_output(model, samples, 9, garbage=False)
    torch.testing.assert_close(_first_output(model, samples, 14, garbage=True), base)  # padding excluded
    others = [samples[0], *_batch("transformer", 1)[1:]]
    moved = not torch.allclose(_first_output(model, others, 9, garbage=False), base, atol=1e-5)
    assert moved == (block_norm == "batch")  # only batch norm pools the other sequences' tokens


def test_transformer_batch_norm_takes_the_statistics_of_the_valid_tokens() -> None:
    model = _classifier("transformer", "none", "batch").train()
    seen: list[torch.Tensor] = []
    first = model.blocks[0].norm1  # type: ignore[index]
    first.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    samples = _batch("transformer", 0)
    with torch.no_grad():
        model(pad(samples, 12, garbage=True), torch.tensor(LENGTHS))
    tokens = _valid_tokens(seen[0], LENGTHS)  # the block's input at the valid steps
    torch.testing.assert_close(first.running_mean, 0.1 * tokens.mean(0))  # one update from mean 0
    torch.testing.assert_close(first.running_var, 0.9 + 0.1 * tokens.var(0))


def test_layer_block_norm_keeps_the_saved_weights_of_earlier_transformers() -> None:
    keys = set(_classifier("transformer", "none").state_dict())
    assert {"blocks.0.norm1.weight", "blocks.0.norm2.bias", "norm.weight"} <= keys


@pytest.mark.parametrize("block_norm", ["layer", "group", "none"])
def test_gpt_block_norms_keep_it_causal(block_norm: str) -> None:
    torch.manual_seed(0)
    spec = InputSpec("tokens", (), vocab_size=VOCAB, max_length=16)
    model = GPT(spec, ModelConfig(name="gpt", embed=8, layers=2, heads=2, block_norm=block_norm, norm_groups=2)).train()  # type: ignore[arg-type]
    kinds = {"layer": nn.LayerNorm, "group": TokenGroupNorm, "none": nn.Identity}
    assert type(model.norm) is kinds[block_norm]
    x = torch.randint(0, VOCAB, (3, 16))
    changed = x.clone()
    changed[:, 9:] = (changed[:, 9:] + 1) % VOCAB
    a, b = model(x), model(changed)
    torch.testing.assert_close(a[:, :9], b[:, :9], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 9:], b[:, 9:])


@pytest.mark.parametrize("norm", ["layer", "group", "none"])
def test_recurrent_language_model_normalizes_each_step_output(norm: str) -> None:
    torch.manual_seed(0)
    spec = InputSpec("tokens", (), vocab_size=VOCAB, max_length=16)
    model = RecurrentLanguageModel(spec, ModelConfig(name="lstm", embed=8, units=8, norm=norm, norm_groups=2))  # type: ignore[arg-type]
    kinds = {"layer": nn.LayerNorm, "group": TokenGroupNorm, "none": nn.Identity}
    assert type(model.norm) is kinds[norm]
    seen: list[torch.Tensor] = []
    model.decoder.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    x = torch.randint(0, VOCAB, (2, 10))
    model.eval()(x)
    if norm != "none":  # each step's vector has zero mean and unit variance over its (groups of) units
        groups = seen[0].reshape(2, 10, 2 if norm == "group" else 1, -1)
        torch.testing.assert_close(groups.mean(-1), torch.zeros(groups.shape[:-1]), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"name": "gpt", "norm": "batch"}, "model: norm=batch does not apply to gpt, .* model.block_norm"),
        ({"name": "gpt", "batchnorm": True}, "model: norm=batch does not apply to gpt"),
        ({"name": "gpt", "block_norm": "batch"}, "model: block_norm=batch would let every step of a gpt see"),
        ({"name": "mlp", "block_norm": "group"}, "model: block_norm=group applies to the blocks of transformer"),
        ({"name": "transformer", "block_norm": "group", "embed": 12}, "norm_groups=8 to divide embed=12"),
        ({"name": "transformer", "block_norm": "ghost"}, "model.block_norm"),
    ],
)
def test_norms_a_model_cannot_take_are_one_line_errors(model: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        make_config({"model": model})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("norm", ["batch", "ghost"])
def test_recurrent_language_model_refuses_batch_statistics(norm: str) -> None:
    spec = InputSpec("tokens", (), vocab_size=VOCAB, max_length=16)
    with pytest.raises(
        ConfigError, match=rf"model.norm: {norm} would let every step of the language model \(model.name: gru\)"
    ):
        RecurrentLanguageModel(spec, ModelConfig(name="gru", embed=8, norm=norm))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"model.norm_groups: 8 must divide the 12 recurrent units"):
        RecurrentLanguageModel(spec, ModelConfig(name="gru", embed=12, norm="group"))
