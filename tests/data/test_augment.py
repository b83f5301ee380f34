from __future__ import annotations

import pytest
import torch

from batchlab.config import CropConfig, DataConfig, HFlipConfig, JitterConfig, RotateConfig
from batchlab.data.augment import Augmenter, build_augmenter, hflip, jitter, rotate, translate
from batchlab.errors import ConfigError


def _batch(n: int = 32, c: int = 2, h: int = 6, w: int = 7, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def _reference_shift(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[:, r, c] = image[:, r - dy, c - dx], zero where that pixel does not exist."""
    _, h, w = image.shape
    out = torch.zeros_like(image)
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        :, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def test_build_augmenter_returns_none_for_no_steps() -> None:
    assert build_augmenter([], seed=0) is None
    assert isinstance(build_augmenter([HFlipConfig()], seed=0), Augmenter)


def test_build_augmenter_rejects_vector_data() -> None:
    with pytest.raises(ConfigError, match=r"data\.augment: .*got input shape \(64,\)"):
        build_augmenter([HFlipConfig()], seed=0, input_shape=(64,))


def test_augmenter_rejects_non_image_batches() -> None:
    with pytest.raises(ConfigError, match=r"data\.augment"):
        Augmenter([HFlipConfig()], seed=0)(torch.zeros(4, 10))


def _expected(
    x: torch.Tensor, seed: int, *, p: float, padding: int, degrees: float, b: float, c: float
) -> torch.Tensor:
    """hflip -> crop -> rotate -> jitter with the documented draws, in step order, from a generator seeded
    with ``seed``: flip where U[0, 1) < p; shifts uniform in [-padding, padding]; angles uniform in
    [-degrees, degrees]; brightness in [1 - b, 1 + b], then contrast in [1 - c, 1 + c]."""
    n = len(x)
    generator = torch.Generator().manual_seed(seed)
    flip = torch.rand(n, generator=generator) < p
    shifts = padding - torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    angles = -degrees + 2 * degrees * torch.rand(n, generator=generator)
    brightness = 1 - b + 2 * b * torch.rand(n, generator=generator)
    contrast = 1 - c + 2 * c * torch.rand(n, generator=generator)
    out = torch.stack([image.flip(-1) if f else image for image, f in zip(x, flip, strict=True)])
    out = torch.stack([_reference_shift(o, int(dy), int(dx)) for o, dy, dx in zip(out, *shifts, strict=True)])
    out = rotate(out, angles)
    mean = (brightness.view(-1, 1, 1, 1) * out).mean(dim=(1, 2, 3), keepdim=True)
    return mean + contrast.view(-1, 1, 1, 1) * (brightness.view(-1, 1, 1, 1) * out - mean)


def test_steps_from_the_yaml_shorthand_apply_the_documented_transforms() -> None:
    steps = DataConfig(
        augment=["hflip", {"crop": {"padding": 1}}, {"rotate": {"degrees": 5}}, {"jitter": {"contrast": 0.1}}]
    ).augment
    assert [type(step) for step in steps] == [HFlipConfig, CropConfig, RotateConfig, JitterConfig]
    x = _batch()
    out = Augmenter(steps, seed=4)(x)
    expected = _expected(x, 4, p=0.5, padding=1, degrees=5.0, b=0.2, c=0.1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out, x, atol=1e-2)


def test_hflip_mirrors_exactly_the_chosen_images() -> None:
    x = _batch(n=64)
    out = Augmenter([HFlipConfig(p=0.5)], seed=3)(x)
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert bool((flipped ^ kept).all())  # every image is exactly one of the two
    assert 0 < int(flipped.sum()) < 64


def test_hflip_probability_extremes() -> None:
    x = _batch()
    assert torch.equal(Augmenter([HFlipConfig(p=1.0)], seed=0)(x), x.flip(-1))
    assert torch.equal(Augmenter([HFlipConfig(p=0.0)], seed=0)(x), x)


def test_hflip_function_uses_the_mask() -> None:
    x = _batch(n=3)
    out = hflip(x, torch.tensor([True, False, True]))
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1]) and torch.equal(out[2], x[2].flip(-1))


def test_translate_matches_a_reference_shift() -> None:
    x = _batch(n=5, h=5, w=6)
    dy = torch.tensor([0, 2, -1, -2, 1])
    dx = torch.tensor([0, -2, 1, 2, -1])
    out = translate(x, dy, dx)
    for i in range(5):
        assert torch.equal(out[i], _reference_shift(x[i], int(dy[i]), int(dx[i])))


def test_crop_is_an_integer_shift_within_the_padding() -> None:
    padding = 2
    x = _batch(n=64, h=6, w=7) + 10.0  # no zeros inside, so the shift is identifiable
    out = Augmenter([CropConfig(padding=padding)], seed=1)(x)
    seen = set()
    for i in range(len(x)):
        matches = [
            (dy, dx)
            for dy in range(-padding, padding + 1)
            for dx in range(-padding, padding + 1)
            if torch.equal(out[i], _reference_shift(x[i], dy, dx))
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 10  # offsets are drawn per image, over the whole [-p, p]^2 range


def test_rotate_by_zero_degrees_is_the_identity() -> None:
    x = _batch()
    torch.testing.assert_close(rotate(x, torch.zeros(len(x))), x, atol=1e-5, rtol=0)


def test_rotate_by_quarter_turns_matches_rot90() -> None:
    x = _batch(n=4, h=6, w=6)
    torch.testing.assert_close(rotate(x, torch.full((4,), 90.0)), torch.rot90(x, k=-1, dims=(2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate(x, torch.full((4,), -90.0)), torch.rot90(x, k=1, dims=(2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate(x, torch.full((4,), 180.0)), x.flip(-1).flip(-2), atol=1e-5, rtol=0)


def test_rotate_is_rigid_on_non_square_images() -> None:
    # A half-turn maps a W x H rectangle onto itself only if the rotation is rigid in pixel space.
    x = _batch(n=2, h=4, w=8)
    torch.testing.assert_close(rotate(x, torch.full((2,), 180.0)), x.flip(-1).flip(-2), atol=1e-5, rtol=0)


def test_tiny_random_rotation_is_nearly_the_identity_and_keeps_the_shape() -> None:
    x = _batch(n=16, c=3, h=9, w=9)
    out = Augmenter([RotateConfig(degrees=1e-4)], seed=0)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out, x, atol=1e-3, rtol=0)


def test_random_rotation_turns_each_image_by_its_drawn_angle() -> None:
    x = _batch(n=16, c=3, h=9, w=9)
    out = Augmenter([RotateConfig(degrees=30)], seed=5)(x)
    angles = -30 + 60 * torch.rand(16, generator=torch.Generator().manual_seed(5))
    assert float(angles.abs().min()) > 1.0  # turns large enough to tell from the identity
    torch.testing.assert_close(out, rotate(x, angles), atol=1e-6, rtol=0)
    for i in range(16):  # each image matches its own angle, and not one a degree away
        error = [float((out[i] - rotate(x[i : i + 1], angles[i : i + 1] + d)[0]).abs().max()) for d in (-1, 0, 1)]
        assert error[1] < 1e-6 < 1e-2 < min(error[0], error[2]), (i, error)
    assert float((out - x).abs().mean()) > 0.1


def test_random_rotation_angles_differ_per_image() -> None:
    x = torch.zeros(8, 1, 9, 9)
    x[:, :, 4, :] = 1.0  # a horizontal bar through the centre
    out = Augmenter([RotateConfig(degrees=45)], seed=0)(x)
    assert len({round(float(img.sum()), 4) for img in out[:, 0, :2]}) > 1  # different tilts, different top rows
    torch.testing.assert_close(out[:, :, 4, 4], torch.ones(8, 1), atol=1e-5, rtol=0)  # the centre stays put


def test_jitter_brightness_is_a_per_image_gain_within_bounds() -> None:
    x = _batch(n=64).abs() + 0.5
    out = Augmenter([JitterConfig(brightness=0.2, contrast=0.0)], seed=0)(x)
    ratio = out / x
    per_image = ratio.flatten(1)
    torch.testing.assert_close(per_image, per_image[:, :1].expand_as(per_image))  # one factor per image
    assert float(per_image.min()) >= 0.8 - 1e-6 and float(per_image.max()) <= 1.2 + 1e-6
    assert float(per_image[:, 0].std()) > 0.05


def test_jitter_contrast_keeps_the_mean_and_scales_the_spread_within_bounds() -> None:
    x = _batch(n=64)
    out = Augmenter([JitterConfig(brightness=0.0, contrast=0.3)], seed=0)(x)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5, rtol=0)
    spread = out.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))
    assert float(spread.min()) >= 0.7 - 1e-5 and float(spread.max()) <= 1.3 + 1e-5
    assert float(spread.std()) > 0.05


def test_jitter_function_formula() -> None:
    x = _batch(n=2)
    b, c = torch.tensor([1.1, 0.9]), torch.tensor([0.8, 1.2])
    scaled = x * b.view(-1, 1, 1, 1)
    mean = scaled.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(jitter(x, b, c), mean + c.view(-1, 1, 1, 1) * (scaled - mean))


def test_augmenter_does_not_modify_its_input() -> None:
    x = _batch()
    before = x.clone()
    Augmenter([HFlipConfig(p=1.0), CropConfig(padding=1), RotateConfig(), JitterConfig(contrast=0.2)], seed=0)(x)
    assert torch.equal(x, before)


STEPS = [
    HFlipConfig(),
    CropConfig(padding=2),
    RotateConfig(degrees=15),
    JitterConfig(brightness=0.2, contrast=0.2),
]


def test_same_seed_same_output_and_different_seed_different_output() -> None:
    x = _batch()
    a = Augmenter(STEPS, seed=7)(x)
    b = Augmenter(STEPS, seed=7)(x)
    c = Augmenter(STEPS, seed=8)(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_global_rng_does_not_affect_the_output() -> None:
    x = _batch()
    torch.manual_seed(0)
    a = Augmenter(STEPS, seed=7)(x)
    torch.manual_seed(123)
    b = Augmenter(STEPS, seed=7)(x)
    assert torch.equal(a, b)


def test_state_dict_round_trip_reproduces_the_next_batch() -> None:
    x = _batch()
    augment = Augmenter(STEPS, seed=0)
    augment(x)
    state = augment.state_dict()
    expected = augment(x)
    assert not torch.equal(expected, augment(x))  # successive batches differ

    resumed = Augmenter(STEPS, seed=999)
    resumed.load_state_dict(state)
    assert torch.equal(resumed(x), expected)
