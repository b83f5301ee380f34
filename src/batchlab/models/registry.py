"""Model builders by the names ``model.name`` accepts, for the kind of input and the task."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError, did_you_mean
from batchlab.inputs import InputSpec
from batchlab.models.bag import BagOfEmbeddings
from batchlab.models.cnn import build_cnn
from batchlab.models.frame_mlp import FrameStatsMLP
from batchlab.models.gpt import GPT
from batchlab.models.mlp import build_mlp
from batchlab.models.rnn import RecurrentClassifier
from batchlab.models.rnn_lm import RecurrentLanguageModel
from batchlab.models.spectrogram_cnn import SpectrogramCNN
from batchlab.models.transformer import TransformerClassifier

__all__ = ["MODEL_BUILDERS", "TASKS", "ModelBuilder", "build_model"]

TASKS = ("classification", "regression", "language_model")
"""The tasks a model can be built for."""

ModelBuilder = Callable[[ModelConfig, InputSpec, int, str], nn.Module]
"""``builder(cfg, spec, num_outputs, task) -> nn.Module``; it may assume ``spec.kind`` and ``task`` were checked."""


def _mlp(cfg: ModelConfig, spec: InputSpec, num_outputs: int, task: str) -> nn.Module:
    if spec.kind == "frames":
        return FrameStatsMLP(spec, num_outputs, cfg)
    return build_mlp(cfg, spec.shape, num_outputs)


def _cnn(cfg: ModelConfig, spec: InputSpec, num_outputs: int, task: str) -> nn.Module:
    if spec.kind == "frames":
        return SpectrogramCNN(spec, num_outputs, cfg)
    return build_cnn(cfg, spec.shape, num_outputs)


def _recurrent(cfg: ModelConfig, spec: InputSpec, num_outputs: int, task: str) -> nn.Module:
    if task == "language_model":
        return RecurrentLanguageModel(spec, cfg)
    return RecurrentClassifier(spec, num_outputs, cfg)


def _transformer(cfg: ModelConfig, spec: InputSpec, num_outputs: int, task: str) -> nn.Module:
    return TransformerClassifier(spec, num_outputs, cfg)


def _gpt(cfg: ModelConfig, spec: InputSpec, num_outputs: int, task: str) -> nn.Module:
    return GPT(spec, cfg)


def _bag(cfg: ModelConfig, spec: InputSpec, num_outputs: int, task: str) -> nn.Module:
    return BagOfEmbeddings(spec, num_outputs, cfg)


MODEL_BUILDERS: dict[str, ModelBuilder] = {
    "mlp": _mlp,
    "cnn": _cnn,
    "lstm": _recurrent,
    "gru": _recurrent,
    "transformer": _transformer,
    "gpt": _gpt,
    "bag": _bag,
}
"""The builder of each model family, by ``model.name``."""

_KINDS: dict[str, tuple[str, ...]] = {
    "mlp": ("vector", "image", "frames"),
    "cnn": ("image", "frames"),
    "lstm": ("tokens", "frames"),
    "gru": ("tokens", "frames"),
    "transformer": ("tokens", "frames"),
    "gpt": ("tokens",),
    "bag": ("tokens",),
}
"""The input kinds each family accepts."""

_KIND_HINTS = {
    "vector": "mlp",
    "image": "cnn or mlp",
    "tokens": "bag, lstm, gru or transformer (gpt for language models)",
    "frames": "mlp, cnn, lstm, gru or transformer",
}
"""The families to suggest for each input kind."""

_LANGUAGE_MODELS = ("gpt", "lstm", "gru")


def _check(cfg: ModelConfig, spec: InputSpec, num_outputs: int, task: str) -> None:
    """Raise a one-line :class:`ConfigError` when ``cfg.name`` cannot model this input and task."""
    name = cfg.name
    if spec.kind not in _KINDS[name]:
        raise ConfigError(
            f"model.name: {name} does not take {spec.kind} inputs (shape {spec.shape}); "
            f"for {spec.kind} use {_KIND_HINTS[spec.kind]}"
        )
    if task == "language_model" and spec.kind != "tokens":
        raise ConfigError(f"data.task: language_model needs token ids (a text corpus), got {spec.kind} data")
    if task == "language_model" and name not in _LANGUAGE_MODELS:
        raise ConfigError(
            f"model.name: {name} is not a language model; for data.task: language_model use gpt, lstm or gru"
        )
    if name == "gpt" and task != "language_model":
        raise ConfigError(
            f"model.name: gpt is a causal language model and does not support {task}; "
            "use transformer (encoder), lstm, gru or bag"
        )
    if num_outputs < 1:
        raise ValueError(f"num_outputs must be >= 1, got {num_outputs}")
    if task == "language_model" and num_outputs != spec.vocab_size:
        raise ValueError(f"a language model outputs vocab_size={spec.vocab_size} logits, got num_outputs={num_outputs}")


def build_model(
    cfg: ModelConfig, spec: InputSpec | tuple[int, ...], num_outputs: int, *, task: str = "classification"
) -> nn.Module:
    """Build the network ``cfg.name`` names, sized for the data and the task.

    Which module a name gives depends on the kind of input:

    ===============  ===================================  ====================================
    ``model.name``   ``vector`` / ``image``               ``tokens`` / ``frames``
    ===============  ===================================  ====================================
    mlp              MLP (images flattened)               frames: :class:`FrameStatsMLP`
    cnn              image CNN (images only)              frames: :class:`SpectrogramCNN`
    lstm, gru        --                                   :class:`RecurrentClassifier`;
                                                          language model (tokens):
                                                          :class:`RecurrentLanguageModel`
    transformer      --                                   :class:`TransformerClassifier`
    gpt              --                                   tokens, language model: :class:`GPT`
    bag              --                                   tokens: :class:`BagOfEmbeddings`
    ===============  ===================================  ====================================

    The weights come from the global RNG: seed it first (``torch.manual_seed``) for reproducible
    weights.

    Args:
        cfg: the ``model`` section.
        spec: the input (:class:`~batchlab.inputs.InputSpec`), or one sample's shape for
            fixed-size inputs: ``(features,)`` for tables, ``(channels, height, width)`` for images.
        num_outputs: output width: classes, regression targets, or for a language model the
            vocabulary size.
        task: ``classification`` or ``regression`` (one output vector per sample), or
            ``language_model`` (causal, logits at every step).

    Returns:
        A module called as ``model(x)`` or ``model(x, lengths)``. Classifiers and regressors
        return ``(batch, num_outputs)``; language models ``(batch, time, vocab_size)`` logits.

    Raises:
        ConfigError: an unknown model name, a model that does not take this kind of input or does
            not fit the task, or an invalid combination of model fields.
        ValueError: an unknown task, or ``num_outputs`` that does not fit it.

    >>> from batchlab.config import ModelConfig
    >>> import torch
    >>> model = build_model(ModelConfig(name="cnn", channels=[4], hidden=[]), (1, 8, 8), 10)
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> text = InputSpec("tokens", (), vocab_size=100, max_length=32)
    >>> model = build_model(ModelConfig(name="transformer", embed=32, hidden=[]), text, 2)
    >>> model(torch.randint(1, 100, (3, 20)), torch.tensor([20, 5, 9])).shape
    torch.Size([3, 2])
    """
    builder = MODEL_BUILDERS.get(cfg.name)
    if builder is None:
        raise ConfigError(f"model.name: unknown model {cfg.name!r}; {did_you_mean(cfg.name, MODEL_BUILDERS)}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if not isinstance(spec, InputSpec):
        spec = InputSpec.from_shape(tuple(spec))
    _check(cfg, spec, num_outputs, task)
    return builder(cfg, spec, num_outputs, task)
