from __future__ import annotations

import pytest
import torch

from batchlab.errors import ConfigError
from batchlab.models import last_valid, masked_max, masked_mean, masked_std, pool_sequence, valid_mask


def _ragged() -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three sequences of 5, 2 and 1 steps of 3 features, padded with inf and NaN."""
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(n, 3, generator=g) for n in (5, 2, 1)]
    lengths = torch.tensor([5, 2, 1])
    values = torch.full((3, 5, 3), float("inf"))
    values[2, 1:] = float("nan")
    for i, s in enumerate(seqs):
        values[i, : len(s)] = s
    return seqs, values, lengths, valid_mask(lengths, 3, 5)


def test_masked_statistics_match_those_of_the_unpadded_sequences() -> None:
    seqs, values, lengths, mask = _ragged()
    torch.testing.assert_close(masked_mean(values, mask), torch.stack([s.mean(0) for s in seqs]))
    torch.testing.assert_close(masked_max(values, mask), torch.stack([s.amax(0) for s in seqs]))
    expected_std = torch.stack([torch.sqrt(s.var(0, unbiased=False) + 1e-5) for s in seqs])
    torch.testing.assert_close(masked_std(values, mask), expected_std)
    torch.testing.assert_close(last_valid(values, lengths), torch.stack([s[-1] for s in seqs]))


def test_masked_std_has_finite_gradients_for_one_step() -> None:
    values = torch.randn(1, 1, 2, requires_grad=True)
    masked_std(values, torch.ones(1, 1, dtype=torch.bool)).sum().backward()
    assert values.grad is not None and torch.isfinite(values.grad).all()


def test_padding_gets_no_gradient() -> None:
    _, values, lengths, mask = _ragged()
    values = values.nan_to_num(0.0, 0.0, 0.0).requires_grad_(True)
    for mode in ("mean", "max", "last"):
        values.grad = None
        pool_sequence(values, mask, lengths, mode).sum().backward()
        assert values.grad is not None and (values.grad[~mask] == 0).all(), mode


def test_pool_sequence_dispatches_and_cls_takes_the_first_step() -> None:
    _, values, lengths, mask = _ragged()
    assert torch.equal(pool_sequence(values, mask, lengths, "cls"), values[:, 0])
    assert torch.equal(pool_sequence(values, mask, lengths, "mean"), masked_mean(values, mask))
    with pytest.raises(ConfigError, match=r"model\.pooling: unknown value 'sum'"):
        pool_sequence(values, mask, lengths, "sum")
