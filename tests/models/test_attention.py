from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from batchlab.errors import ConfigError
from batchlab.models import SelfAttention, TransformerBlock, init_gpt2_weights


def _reference_attention(
    attn: SelfAttention, x: torch.Tensor, key_mask: torch.Tensor | None, causal: bool
) -> torch.Tensor:
    """Softmax attention written out with explicit matrices, as the formula reads."""
    batch, time, embed = x.shape
    heads, dim = attn.heads, embed // attn.heads
    q, k, v = (p.view(batch, time, heads, dim).transpose(1, 2) for p in attn.qkv(x).split(embed, dim=2))
    scores = q @ k.transpose(-1, -2) / math.sqrt(dim)
    allowed = torch.ones(batch, 1, time, time, dtype=torch.bool)
    if key_mask is not None:
        allowed = allowed & key_mask[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(time, time, dtype=torch.bool).tril()
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    return attn.proj((weights @ v).transpose(1, 2).reshape(batch, time, embed))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("masked", "causal"), [(False, False), (True, False), (False, True)])
def test_attention_matches_the_formula(masked: bool, causal: bool) -> None:
    torch.manual_seed(0)
    attn = SelfAttention(16, 4).eval()
    x = torch.randn(3, 7, 16)
    key_mask = torch.arange(7)[None] < torch.tensor([[7], [3], [1]]) if masked else None
    torch.testing.assert_close(attn(x, key_mask, causal), _reference_attention(attn, x, key_mask, causal))


def test_heads_must_divide_the_width() -> None:
    with pytest.raises(ConfigError, match=r"model\.heads: 3 must divide model\.embed=16"):
        SelfAttention(16, 3)


def test_gpt2_initialization_statistics() -> None:
    torch.manual_seed(0)
    layers, embed = 4, 128
    model = nn.Sequential(*(TransformerBlock(embed, 4) for _ in range(layers)), nn.Embedding(500, embed, padding_idx=0))
    init_gpt2_weights(model, layers)
    blocks = [m for m in model if isinstance(m, TransformerBlock)]
    residual = torch.cat([p.weight.flatten() for b in blocks for p in b.residual_projections()])
    others = torch.cat([w.flatten() for b in blocks for w in (b.attention.qkv.weight, b.expand.weight)])
    assert others.std().item() == pytest.approx(0.02, rel=0.03)
    assert residual.std().item() == pytest.approx(0.02 / math.sqrt(2 * layers), rel=0.03)
    assert all((m.bias == 0).all() for m in model.modules() if isinstance(m, nn.Linear))
    table = model[-1]
    assert isinstance(table, nn.Embedding)
    assert table.weight[1:].std().item() == pytest.approx(0.02, rel=0.03) and (table.weight[0] == 0).all()
