"""Activation layers by the names ``model.activation`` accepts."""

from __future__ import annotations

from torch import nn

from batchlab.errors import ConfigError, did_you_mean

__all__ = ["ACTIVATION_LAYERS", "dropout_layer", "make_activation"]

ACTIVATION_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
}
"""Layer class of each activation name; torch's default arguments (leaky_relu slope 0.01, elu alpha 1)."""


def make_activation(name: str) -> nn.Module:
    """A new activation layer for ``name`` (one of :data:`ACTIVATION_LAYERS`).

    Raises:
        ConfigError: the name is unknown.
    """
    layer = ACTIVATION_LAYERS.get(name)
    if layer is None:
        raise ConfigError(f"model.activation: unknown value {name!r}; {did_you_mean(name, ACTIVATION_LAYERS)}")
    return layer()


def dropout_layer(p: float) -> nn.Module:
    """``nn.Dropout(p)``, or ``nn.Identity()`` when ``p`` is 0: a zero-probability dropout still runs a
    kernel per call in training mode (about 2% of a small GPT's step on a CPU)."""
    return nn.Dropout(p) if p > 0 else nn.Identity()
