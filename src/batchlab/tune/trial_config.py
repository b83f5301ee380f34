"""The config of one trial: the base config with the trial's values, and the LR scaling rule.

With ``--lr-scaling linear|sqrt`` each trial's ``train.lr_scaling`` is set to that rule with the base
config's effective batch (``batch_size x accumulate``) as ``base_batch_size`` (unless the config names
one itself). ``train.optimizer.lr`` -- tuned or not -- is then the rate for that base batch, and training
scales it to the trial's batch size: batch 256 with base 32 and rule ``linear`` trains at 8x the rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchlab.config import Config, make_config, samples_of
from batchlab.errors import ConfigError
from batchlab.tune.schema import set_path

__all__ = ["scaling_base_batch", "trial_config"]


def trial_config(base: Config, params: Mapping[str, Any], lr_scaling: str = "none") -> Config:
    """``base`` with each ``{dotted.path: value}`` set, validated as a whole.

    Args:
        base: the study's base config.
        params: config values of the trial (decoded, see :meth:`SearchSpace.decode`).
        lr_scaling: ``none`` leaves the config's own ``train.lr_scaling``; ``linear`` / ``sqrt`` set it.

    Raises:
        ConfigError: the combination of values is not a valid config.
    """
    raw = base.model_dump(mode="json")
    if lr_scaling != "none":
        set_path(raw, "train.lr_scaling.rule", lr_scaling)
        set_path(raw, "train.lr_scaling.base_batch_size", scaling_base_batch(base))
    for path, value in params.items():
        set_path(raw, path, value)
    return make_config(raw)


def scaling_base_batch(base: Config) -> int:
    """The batch size the base config's learning rate was chosen for.

    Raises:
        ConfigError: the base batch is ``full`` and the config names no ``train.lr_scaling.base_batch_size``.
    """
    if base.train.lr_scaling.base_batch_size is not None:
        return base.train.lr_scaling.base_batch_size
    if base.train.batch_size == "full":
        raise ConfigError(
            '--lr-scaling: the config\'s train.batch_size is "full", so the base batch of its learning rate '
            "is unknown; set train.lr_scaling.base_batch_size in the config"
        )
    return samples_of(base.train.batch_size, 0) * base.train.accumulate
