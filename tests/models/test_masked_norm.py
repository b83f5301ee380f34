from __future__ import annotations

import torch
from torch import nn

from batchlab.models import MaskedBatchNorm2d, valid_mask


def test_without_padding_it_is_batchnorm2d() -> None:
    torch.manual_seed(0)
    ours, theirs = MaskedBatchNorm2d(3), nn.BatchNorm2d(3)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2.0)
        ours.bias.uniform_(-1.0, 1.0)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(4, 3, 5, 7)
    full = torch.ones(4, 7, dtype=torch.bool)
    for _ in range(3):
        torch.testing.assert_close(ours(x, full), theirs(x))
        torch.testing.assert_close(ours(x), theirs(x))
    for name, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[name], value)
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(x, full), theirs(x))


def test_padding_changes_neither_outputs_nor_running_statistics() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 6)
    lengths = torch.tensor([6, 3])
    padded = torch.cat([x, 9 + torch.randn(2, 3, 4, 5)], dim=3)
    padded[1, :, :, 3:] = 7.0
    short, long = MaskedBatchNorm2d(3), MaskedBatchNorm2d(3)
    a = short(x, valid_mask(lengths, 2, 6))
    b = long(padded, valid_mask(lengths, 2, 11))
    torch.testing.assert_close(a[0], b[0, :, :, :6])
    torch.testing.assert_close(a[1, :, :, :3], b[1, :, :, :3])
    torch.testing.assert_close(short.running_mean, long.running_mean)
    torch.testing.assert_close(short.running_var, long.running_var)
    # The statistics are those of the valid frames alone.
    valid = torch.cat([x[0].flatten(1), x[1, :, :, :3].flatten(1)], dim=1)
    torch.testing.assert_close(short.running_mean, 0.1 * valid.mean(1))
    torch.testing.assert_close(short.running_var, 0.9 + 0.1 * valid.var(1))


def test_statistics_stay_float32_under_bfloat16() -> None:
    norm = MaskedBatchNorm2d(2)
    x = torch.randn(2, 2, 3, 5).to(torch.bfloat16)
    out = norm(x, valid_mask(torch.tensor([5, 2]), 2, 5))
    assert out.dtype == torch.bfloat16 and norm.running_mean.dtype == torch.float32
