"""Batch-level image augmentation: random flips, crops, rotations and brightness/contrast changes.

An :class:`Augmenter` applies the ``data.augment`` steps, in order, to a whole training batch at once
(no loop over images), drawing each image's random parameters from a ``torch.Generator`` it owns, so a
seeded run is reproducible and :meth:`Augmenter.state_dict` makes a resume exact. The transforms
themselves are deterministic functions of the batch and the drawn parameters (:func:`hflip`,
:func:`translate`, :func:`rotate`, :func:`jitter`), usable and testable on their own.

Inputs are on whatever scale preprocessing produced (often standardized, so values can be negative
and are not bounded by [0, 1]): nothing is clamped, and the padding that crops and rotations bring in
is 0, which is the training mean for standardized data and black for raw pixels.

Example:
    >>> import torch
    >>> from batchlab.config import CropConfig, HFlipConfig
    >>> augment = Augmenter([HFlipConfig(p=0.5), CropConfig(padding=2)], seed=0)
    >>> augment(torch.randn(16, 1, 8, 8)).shape
    torch.Size([16, 1, 8, 8])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from batchlab.config import CropConfig, HFlipConfig, JitterConfig, RotateConfig
from batchlab.errors import ConfigError

__all__ = ["Augmenter", "build_augmenter", "hflip", "jitter", "rotate", "translate"]

_Step = HFlipConfig | CropConfig | RotateConfig | JitterConfig


# ------------------------------------------------------------------------------ deterministic transforms


def hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the chosen images left-right.

    Args:
        x: images, shape ``(batch, channels, height, width)``.
        flip: which images to mirror, bool, shape ``(batch,)``.

    Returns:
        A new tensor like ``x``: image ``i`` is ``x[i].flip(-1)`` where ``flip[i]``, else ``x[i]``.
    """
    return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)


def translate(x: torch.Tensor, shift_y: torch.Tensor, shift_x: torch.Tensor) -> torch.Tensor:
    """Shift each image by a whole number of pixels, filling the uncovered border with zeros.

    This is pad-and-crop: pad by ``p`` on each side, crop back at offset ``p - shift``. Pixels are
    copied, never interpolated, so the result is exact.

    Args:
        x: images, shape ``(batch, channels, height, width)``.
        shift_y: downward shift of each image in pixels, int, shape ``(batch,)``.
        shift_x: rightward shift of each image in pixels, int, shape ``(batch,)``.

    Returns:
        A new tensor like ``x`` with ``out[i, :, r, c] = x[i, :, r - shift_y[i], c - shift_x[i]]``
        where that pixel exists, else 0.
    """
    batch, channels, height, width = x.shape
    pad = int(max(shift_y.abs().max(), shift_x.abs().max())) if batch else 0
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = pad - shift_y.to(x.device).long().view(-1, 1) + torch.arange(height, device=x.device)  # (batch, height)
    cols = pad - shift_x.to(x.device).long().view(-1, 1) + torch.arange(width, device=x.device)  # (batch, width)
    padded = padded.gather(2, rows.view(batch, 1, height, 1).expand(batch, channels, height, width + 2 * pad))
    return padded.gather(3, cols.view(batch, 1, 1, width).expand(batch, channels, height, width))


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre, by bilinear resampling with zeros outside the image.

    The rotation is exact in pixel space also for non-square images (the sampling grid is corrected
    for the aspect ratio). Uses ``F.affine_grid`` and ``F.grid_sample`` with ``align_corners=False``.

    Args:
        x: images, shape ``(batch, channels, height, width)``, floating point.
        degrees: angle of each image in degrees, shape ``(batch,)``; positive turns the content
            clockwise on screen (rows counted downward), e.g. 90 maps the top row to the right column.

    Returns:
        A new tensor like ``x``; an angle of 0 returns the image unchanged (up to rounding).
    """
    height, width = x.shape[-2:]
    radians = degrees.to(device=x.device, dtype=x.dtype) * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    zero = torch.zeros_like(cos)
    # affine_grid maps each output location to the input location it samples, in coordinates normalized
    # to [-1, 1] per axis; the factors height/width undo that per-axis scaling so the turn is rigid in pixels.
    theta = torch.stack(
        [
            torch.stack([cos, sin * (height / width), zero], dim=-1),
            torch.stack([-sin * (width / height), cos, zero], dim=-1),
        ],
        dim=1,
    )  # (batch, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def jitter(x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """Scale each image's brightness, then its contrast about its own mean.

    Brightness multiplies every value (``b * x``: a gain, so 0 stays 0); contrast blends with the
    image's mean over channels, rows and columns (``m + c * (x - m)``), so it leaves that mean unchanged
    and scales the spread about it by ``c``. No clamping: the values' scale is the preprocessing's.

    Args:
        x: images, shape ``(batch, channels, height, width)``, floating point.
        brightness: factor ``b`` of each image, shape ``(batch,)``.
        contrast: factor ``c`` of each image, shape ``(batch,)``.

    Returns:
        A new tensor like ``x``.
    """
    b = brightness.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)
    c = contrast.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)
    # m + c * (b * x - m) with m = b * mean(x), folded into one multiply-add over the pixels.
    scaled_mean = b * x.mean(dim=(1, 2, 3), keepdim=True)
    return torch.addcmul(scaled_mean * (1 - c), x, b * c)


# --------------------------------------------------------------------------------------- random steps


class Augmenter:
    """Apply augmentation steps, in order, to whole batches with a seeded generator.

    For each step, each image in the batch gets its own random draw:

    * ``hflip``: mirrored with probability ``p``.
    * ``crop``: zero-padded by ``padding`` pixels per side and cropped back to its size at an offset
      drawn uniformly from ``[0, 2 * padding]`` per axis, i.e. shifted by a whole number of pixels in
      ``[-padding, padding]`` (exact, no interpolation).
    * ``rotate``: turned by an angle uniform in ``[-degrees, degrees]`` (bilinear, zero fill).
    * ``jitter``: brightness factor uniform in ``[1 - brightness, 1 + brightness]``, then contrast factor
      uniform in ``[1 - contrast, 1 + contrast]`` (see :func:`jitter`; a range of 0 is skipped).

    Random numbers come from a CPU ``torch.Generator`` (the batch itself may be on any device), so
    the same seed and the same batch shapes give the same output, whatever the global RNG does.

    Args:
        steps: the ``data.augment`` list (``HFlipConfig``, ``CropConfig``, ``RotateConfig`` and
            ``JitterConfig`` values).
        seed: seed of the generator.

    Example:
        >>> import torch
        >>> from batchlab.config import RotateConfig
        >>> augment = Augmenter([RotateConfig(degrees=10)], seed=0)
        >>> state = augment.state_dict()
        >>> first = augment(torch.ones(4, 3, 8, 8))
        >>> augment.load_state_dict(state)
        >>> torch.equal(augment(torch.ones(4, 3, 8, 8)), first)
        True
    """

    def __init__(self, steps: Sequence[_Step], seed: int) -> None:
        self.steps: tuple[_Step, ...] = tuple(steps)
        self.seed = seed
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a batch.

        Args:
            x: images, shape ``(batch, channels, height, width)``, floating point (float32).

        Returns:
            A new tensor of the same shape, dtype and device (the input is not modified).

        Raises:
            ConfigError: ``x`` is not a batch of images (augmentation was configured for tables or vectors).
        """
        if x.ndim != 4 or not x.is_floating_point():
            raise ConfigError(
                "data.augment: image augmentations need batches of images (batch, channels, height, width), "
                f"got a {x.dtype} batch of shape {tuple(x.shape)}; remove data.augment for this data"
            )
        for step in self.steps:
            x = self._apply(step, x)
        return x

    def _apply(self, step: _Step, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        if isinstance(step, HFlipConfig):
            return hflip(x, torch.rand(batch, generator=self.generator) < step.p)
        if isinstance(step, CropConfig):
            offsets = torch.randint(0, 2 * step.padding + 1, (2, batch), generator=self.generator)
            shifts = step.padding - offsets
            return translate(x, shifts[0], shifts[1])
        if isinstance(step, RotateConfig):
            return rotate(x, self._uniform(batch, -step.degrees, step.degrees))
        if isinstance(step, JitterConfig):
            ones = torch.ones(batch)
            b = self._uniform(batch, 1 - step.brightness, 1 + step.brightness) if step.brightness else ones
            c = self._uniform(batch, 1 - step.contrast, 1 + step.contrast) if step.contrast else ones
            return jitter(x, b, c)
        raise TypeError(f"unknown augmentation step {step!r}")  # unreachable: the config validates steps

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        """``n`` draws uniform in ``[low, high)``, float32, on the CPU."""
        return low + (high - low) * torch.rand(n, generator=self.generator)

    def state_dict(self) -> dict[str, Any]:
        """The generator's state, for an exact resume: ``{"generator": uint8 tensor}``."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the generator's state from :meth:`state_dict`."""
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        names = ", ".join(repr(step) for step in self.steps)
        return f"Augmenter([{names}], seed={self.seed})"


def build_augmenter(
    steps: Sequence[_Step], seed: int, *, input_shape: tuple[int, ...] | None = None
) -> Augmenter | None:
    """An :class:`Augmenter` for the ``data.augment`` list, or ``None`` when the list is empty.

    Args:
        steps: the ``data.augment`` steps.
        seed: seed of the augmentation generator (e.g. ``train.seed``).
        input_shape: one sample's shape without the batch dimension; when given, checked to be an
            image's ``(channels, height, width)`` so a misconfiguration fails before training starts.

    Returns:
        The augmenter, or ``None`` if there is nothing to do.

    Raises:
        ConfigError: steps are given but ``input_shape`` is not an image shape.
    """
    if not steps:
        return None
    if input_shape is not None and len(input_shape) != 3:
        raise ConfigError(
            "data.augment: image augmentations need image data (channels, height, width), "
            f"got input shape {tuple(input_shape)}; remove data.augment for this data"
        )
    return Augmenter(steps, seed)
