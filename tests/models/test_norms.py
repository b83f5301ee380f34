"""model.norm: what each normalizer normalizes over, in every model family it applies to."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from batchlab.config import ModelConfig, make_config
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models import RecurrentClassifier, SpectrogramCNN
from batchlab.models.cnn import build_cnn
from batchlab.models.masked_norm import MaskedBatchNorm2d, MaskedGroupNorm
from batchlab.models.mlp import build_mlp
from batchlab.models.norms import GhostBatchNorm
from tests.models.conftest import FEATURES, frame_sample, pad

NORMS = ["batch", "ghost", "group", "layer", "none"]


@pytest.mark.parametrize("shape", [(64, 8), (64, 8, 5, 5)])
def test_ghost_batch_norm_is_one_batch_norm_per_ghost_batch(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape) * 3 + torch.arange(64).view(64, *[1] * (len(shape) - 1)) / 8  # slices differ
    ghost = GhostBatchNorm(8, ghost_size=16).train()
    plain = (nn.BatchNorm1d(8) if len(shape) == 2 else nn.BatchNorm2d(8)).train()
    with torch.no_grad():
        ghost.weight.uniform_(0.5, 2)
        ghost.bias.normal_()
        plain.load_state_dict(ghost.state_dict())
    out = ghost(x)
    expected = torch.cat([plain(part) for part in x.split(16)])  # four independent calls, in order
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(ghost.running_mean, plain.running_mean)
    torch.testing.assert_close(ghost.running_var, plain.running_var)
    assert int(ghost.num_batches_tracked) == int(plain.num_batches_tracked) == 4
    # ... and not one call over the whole batch, whose statistics differ here.
    whole = nn.BatchNorm1d(8) if len(shape) == 2 else nn.BatchNorm2d(8)
    whole.load_state_dict(ghost.state_dict())
    assert not torch.allclose(whole.train()(x), out, atol=1e-3)
    # Evaluation uses the running statistics, as batch norm does.
    torch.testing.assert_close(ghost.eval()(x), plain.eval()(x))


def _output_of_first(norm: nn.Module, others: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    return norm.train()(torch.cat([first[None], others]))[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("maps", [False, True])
@pytest.mark.parametrize("norm", NORMS)
def test_what_each_norm_normalizes_over(norm: str, maps: bool) -> None:
    """Change the other samples of the batch: only batch norm (and ghost batch norm, within the first
    sample's ghost batch) changes the first sample's output."""
    torch.manual_seed(1)
    cfg = ModelConfig(name="cnn" if maps else "mlp", norm=norm, ghost_batch_size=4, norm_groups=4, channels=[8])
    from batchlab.models.norms import norm_layer

    layer = norm_layer(cfg, 8, maps=maps) or nn.Identity()
    shape = (8, 3, 3) if maps else (8,)
    first = torch.randn(shape)
    others = torch.randn(15, *shape)
    base = _output_of_first(layer, others, first)
    inside = others.clone()
    inside[:3] = inside[:3] * 5 + 2  # the rest of the first ghost batch (samples 1-3)
    outside = others.clone()
    outside[3:] = outside[3:] * 5 + 2  # samples 4-15: other ghost batches
    moved_inside = not torch.allclose(_output_of_first(layer, inside, first), base)
    moved_outside = not torch.allclose(_output_of_first(layer, outside, first), base)
    assert moved_inside == (norm in ("batch", "ghost"))
    assert moved_outside == (norm == "batch")
    if norm in ("group", "layer"):
        # Per sample, with zero mean and unit variance over each group (layer: all features).
        groups = 4 if norm == "group" else 1
        flat = base.reshape(groups, -1)
        torch.testing.assert_close(flat.mean(dim=1), torch.zeros(groups), atol=1e-5, rtol=0)
        torch.testing.assert_close(flat.var(dim=1, unbiased=False), torch.ones(groups), atol=1e-3, rtol=0)


@pytest.mark.parametrize("norm", NORMS)
def test_mlp_and_cnn_build_the_norm(norm: str) -> None:
    cfg = ModelConfig(name="cnn", norm=norm, channels=[8, 16], hidden=[16], ghost_batch_size=4, norm_groups=4)
    expected = {
        "batch": (nn.BatchNorm1d, nn.BatchNorm2d),
        "ghost": (GhostBatchNorm, GhostBatchNorm),
        "group": (nn.GroupNorm, nn.GroupNorm),
        "layer": (nn.LayerNorm, nn.GroupNorm),
        "none": (),
    }[norm]
    mlp = build_mlp(cfg, (10,), 3)
    cnn = build_cnn(cfg, (1, 8, 8), 3)
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
    found_mlp = [type(m) for m in mlp.modules() if isinstance(m, norm_types)]
    found_cnn = [type(m) for m in cnn.modules() if isinstance(m, norm_types)]
    if not expected:
        assert found_mlp == found_cnn == []
    else:
        assert found_mlp == [expected[0]]
        assert found_cnn == [expected[1], expected[1], expected[0]]
        if norm == "layer":
            assert [m.num_groups for m in cnn.modules() if isinstance(m, nn.GroupNorm)] == [1, 1]
    # A norm's shift replaces the bias of the layer before it.
    assert mlp[1].bias is None if expected else mlp[1].bias is not None
    assert cnn(torch.randn(6, 1, 8, 8)).shape == (6, 3)


@pytest.mark.parametrize("norm", NORMS)
def test_sequence_models_normalize_their_head(norm: str) -> None:
    cfg = ModelConfig(name="gru", embed=8, units=8, hidden=[8], norm=norm, ghost_batch_size=2, norm_groups=2)
    model = RecurrentClassifier(InputSpec("frames", (FEATURES,), variable_length=True), 3, cfg)
    kinds = {type(m).__name__ for m in model.modules()}
    name = {"batch": "BatchNorm1d", "ghost": "GhostBatchNorm", "group": "GroupNorm", "layer": "LayerNorm"}.get(norm)
    assert (name in kinds) if name else not kinds & {"BatchNorm1d", "GhostBatchNorm", "GroupNorm", "LayerNorm"}
    x = pad([frame_sample(5), frame_sample(3), frame_sample(4), frame_sample(2)], 5, garbage=False)
    assert model.train()(x, torch.tensor([5, 3, 4, 2])).shape == (4, 3)


def _speech(norm: str) -> SpectrogramCNN:
    torch.manual_seed(0)
    cfg = ModelConfig(name="cnn", channels=[4, 4], hidden=[8], norm=norm, ghost_batch_size=2, norm_groups=2)
    return SpectrogramCNN(InputSpec("frames", (FEATURES,), variable_length=True), 3, cfg)


@pytest.mark.parametrize("norm", NORMS)
def test_speech_cnn_norms_ignore_padding(norm: str) -> None:
    model = _speech(norm).train()
    expected = {"batch": MaskedBatchNorm2d, "ghost": MaskedBatchNorm2d, "group": MaskedGroupNorm}.get(norm)
    expected = MaskedGroupNorm if norm == "layer" else expected
    assert all(type(block.norm) is expected if expected else block.norm is None for block in model.blocks)
    samples = [frame_sample(9), frame_sample(4), frame_sample(6), frame_sample(7)]
    lengths = torch.tensor([9, 4, 6, 7])
    a = model(pad(samples, 9, garbage=False), lengths)
    b = model(pad(samples, 17, garbage=True), lengths)
    torch.testing.assert_close(a, b)


def test_speech_ghost_norm_is_one_masked_norm_per_ghost_batch() -> None:
    torch.manual_seed(0)
    x = torch.randn(6, 4, 5, 9) + torch.arange(6).view(6, 1, 1, 1)
    mask = torch.arange(9)[None, :] < torch.tensor([9, 4, 6, 7, 2, 8])[:, None]
    ghost = MaskedBatchNorm2d(4, ghost_size=2).train()
    plain = MaskedBatchNorm2d(4).train()
    out = ghost(x, mask)
    expected = torch.cat([plain(x[i : i + 2], mask[i : i + 2]) for i in (0, 2, 4)])
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(ghost.running_mean, plain.running_mean)
    torch.testing.assert_close(ghost.running_var, plain.running_var)


def test_speech_group_norm_is_per_sample() -> None:
    torch.manual_seed(0)
    norm = MaskedGroupNorm(2, 4)
    x = torch.randn(3, 4, 5, 9)
    mask = torch.arange(9)[None, :] < torch.tensor([9, 4, 6])[:, None]
    alone = norm(x[1:2, :, :, :4], mask[1:2, :4])
    together = norm(x, mask)[1:2, :, :, :4]
    torch.testing.assert_close(alone, together)
    # Without padding it is GroupNorm.
    torch.testing.assert_close(norm(x), nn.functional.group_norm(x, 2, norm.weight, norm.bias))


def test_batchnorm_is_a_synonym_of_norm_batch() -> None:
    assert make_config({"model": {"batchnorm": True}}).model.norm == "batch"
    assert make_config({"model": {"batchnorm": False}}).model.norm == "none"
    assert make_config({}).model.norm == "none"
    # norm wins; the saved form stays consistent and reloads to the same norm.
    group = make_config({"model": {"batchnorm": True, "norm": "group"}})
    assert (group.model.norm, group.model.batchnorm) == ("group", False)
    assert make_config(group).model.norm == "group"
    # --set model.batchnorm on a saved config (which holds norm) still switches it.
    saved = make_config({"model": {"norm": "batch"}})
    assert make_config(saved, ["model.batchnorm=false"]).model.norm == "none"
    assert make_config(make_config({}), ["model.batchnorm=true"]).model.norm == "batch"


def test_group_norm_needs_divisible_widths() -> None:
    with pytest.raises(ConfigError, match=r"model: norm_groups=8 must divide .* channels holds 12"):
        make_config({"model": {"name": "cnn", "norm": "group", "channels": [16, 12], "hidden": [16]}})
    with pytest.raises(ConfigError, match=r"hidden holds 10"):
        make_config({"model": {"norm": "group", "hidden": [10]}})
    make_config({"model": {"norm": "group", "norm_groups": 5, "hidden": [10]}})
    # One feature per group of a dense layer would always normalize to 0; a conv channel keeps its pixels.
    with pytest.raises(ConfigError, match=r"norm_groups=8 leaves one feature per group in hidden 8.* at most 4"):
        make_config({"model": {"norm": "group", "hidden": [16, 8]}})
    make_config({"model": {"name": "cnn", "norm": "group", "norm_groups": 8, "channels": [8], "hidden": [16]}})


@pytest.mark.parametrize("batch", [3, 4, 9, 10, 13])
def test_ghost_batch_norm_of_a_varying_batch_cuts_the_last_smaller_ghost_batch(batch: int) -> None:
    """Token budgets give batches of varying sample counts: full ghost batches of 4, then a smaller one
    (a remainder of one sample joins the ghost batch before it); a batch of at most 4 is one ghost batch."""
    torch.manual_seed(batch)
    x = torch.randn(batch, 3) * 2 + torch.arange(batch).view(batch, 1)
    ghost, plain = GhostBatchNorm(3, ghost_size=4).train(), nn.BatchNorm1d(3).train()
    expected_sizes = {3: [3], 4: [4], 9: [4, 5], 10: [4, 4, 2], 13: [4, 4, 5]}[batch]
    expected = torch.cat([plain(part) for part in x.split(expected_sizes)])
    torch.testing.assert_close(ghost(x), expected)
    torch.testing.assert_close(ghost.running_mean, plain.running_mean)
    assert int(ghost.num_batches_tracked) == len(expected_sizes)
