"""Convolutional network: conv blocks over images, then a dense head."""

from __future__ import annotations

from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.models.activations import make_activation
from batchlab.models.mlp import dense_block
from batchlab.models.norms import norm_layer

__all__ = ["build_cnn"]


def build_cnn(cfg: ModelConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Sequential:
    """Build conv blocks, one per entry of ``cfg.channels``, then Flatten → dense head → Linear(num_outputs).

    A block is Conv2d(kernel_size, padding=kernel_size // 2, so height and width are kept) →
    (the norm of ``cfg.norm``, and then the conv has no bias) → activation → MaxPool2d(2) → (Dropout). The pooling
    halves height and width (rounding down) and is left out of a block whose input is already smaller
    than 2 pixels in either direction, so deep stacks work on small images (8×8 digits) as well as
    large ones. Dropout is element-wise (``nn.Dropout``, as in PyTorch's MNIST example), with
    probability ``cfg.dropout``. The head is one :func:`~batchlab.models.mlp.dense_block` per entry of
    ``cfg.hidden``.

    Args:
        cfg: the ``model`` section (``channels``, ``kernel_size``, ``hidden``, ``activation``,
            ``norm`` and its options, ``dropout``).
        input_shape: one image's ``(channels, height, width)``, in pixels.
        num_outputs: width of the output (classes, or regression targets).

    Returns:
        A module mapping ``(batch, channels, height, width)`` to ``(batch, num_outputs)``.

    Raises:
        ConfigError: ``input_shape`` is not an image shape (the data is a table or vectors).
        ValueError: a zero-sized dimension or ``num_outputs < 1``.
    """
    if len(input_shape) != 3:
        raise ConfigError(
            "model.name: cnn needs image data (channels, height, width), "
            f"got input shape {tuple(input_shape)}; use model.name: mlp for tables and vectors"
        )
    if min(input_shape) < 1:
        raise ValueError(f"input_shape must hold positive sizes, got {tuple(input_shape)}")
    if num_outputs < 1:
        raise ValueError(f"num_outputs must be >= 1, got {num_outputs}")
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    for out_channels in cfg.channels:
        norm = norm_layer(cfg, out_channels, maps=True)
        layers.append(
            nn.Conv2d(channels, out_channels, cfg.kernel_size, padding=cfg.kernel_size // 2, bias=norm is None)
        )
        if norm is not None:
            layers.append(norm)
        layers.append(make_activation(cfg.activation))
        if height >= 2 and width >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        channels = out_channels
    layers.append(nn.Flatten())
    features = channels * height * width
    for units in cfg.hidden:
        layers += dense_block(features, units, cfg)
        features = units
    layers.append(nn.Linear(features, num_outputs))
    return nn.Sequential(*layers)
