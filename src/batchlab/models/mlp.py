"""Multilayer perceptron: fully connected layers over flattened inputs."""

from __future__ import annotations

import math

from torch import nn

from batchlab.config import ModelConfig
from batchlab.models.activations import make_activation
from batchlab.models.norms import norm_layer

__all__ = ["build_mlp", "dense_block", "dense_head"]


def dense_block(in_features: int, out_features: int, cfg: ModelConfig) -> list[nn.Module]:
    """Layers of one hidden layer: Linear → (norm) → activation → (Dropout).

    The norm is ``cfg.norm``'s (see :mod:`batchlab.models.norms`); the Linear layer has no bias when
    a norm follows it (the norm's shift replaces it).

    Args:
        in_features: input width.
        out_features: output width (units of the layer).
        cfg: the ``model`` section (``activation``, ``norm`` and its options, ``dropout``).

    Returns:
        The layers, in order, mapping ``(batch, in_features)`` to ``(batch, out_features)``.
    """
    norm = norm_layer(cfg, out_features, maps=False)
    layers: list[nn.Module] = [nn.Linear(in_features, out_features, bias=norm is None)]
    if norm is not None:
        layers.append(norm)
    layers.append(make_activation(cfg.activation))
    if cfg.dropout > 0:
        layers.append(nn.Dropout(cfg.dropout))
    return layers


def dense_head(in_features: int, num_outputs: int, cfg: ModelConfig) -> nn.Sequential:
    """The head of a model: one :func:`dense_block` per entry of ``cfg.hidden``, then Linear(num_outputs).

    Args:
        in_features: width of the vector the head reads (a pooled sequence, flattened conv maps).
        num_outputs: output width (classes, or regression targets).
        cfg: the ``model`` section (``hidden``, ``activation``, ``batchnorm``, ``dropout``).

    Returns:
        A module mapping ``(batch, in_features)`` to ``(batch, num_outputs)``.
    """
    layers: list[nn.Module] = []
    width = in_features
    for units in cfg.hidden:
        layers += dense_block(width, units, cfg)
        width = units
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)


def build_mlp(cfg: ModelConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Sequential:
    """Build Flatten → one :func:`dense_block` per entry of ``cfg.hidden`` → Linear(num_outputs).

    Args:
        cfg: the ``model`` section; ``hidden`` lists the units of each hidden layer (empty: a linear
            model), ``activation``, ``batchnorm`` and ``dropout`` shape each block.
        input_shape: shape of one sample without the batch dimension, e.g. ``(features,)`` or an
            image's ``(channels, height, width)``, which is flattened.
        num_outputs: width of the output (classes for classification, targets for regression).

    Returns:
        A module mapping ``(batch, *input_shape)`` to ``(batch, num_outputs)`` (logits or values).

    Raises:
        ValueError: an empty ``input_shape``, a zero-sized dimension, or ``num_outputs < 1``.

    >>> from batchlab.config import ModelConfig
    >>> build_mlp(ModelConfig(hidden=[8]), (1, 4, 4), 3)
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=16, out_features=8, bias=True)
      (2): ReLU()
      (3): Linear(in_features=8, out_features=3, bias=True)
    )
    """
    if not input_shape or min(input_shape) < 1:
        raise ValueError(f"input_shape must be a non-empty shape of positive sizes, got {tuple(input_shape)}")
    if num_outputs < 1:
        raise ValueError(f"num_outputs must be >= 1, got {num_outputs}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for units in cfg.hidden:
        layers += dense_block(width, units, cfg)
        width = units
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)
