"""Recurrent (LSTM / GRU) language model: next-token logits at every step."""

from __future__ import annotations

import torch
from torch import nn

from batchlab.config import ModelConfig
from batchlab.errors import ConfigError
from batchlab.inputs import InputSpec
from batchlab.models.activations import dropout_layer
from batchlab.models.embedding import InputEmbedding
from batchlab.models.rnn import make_recurrent, run_recurrent
from batchlab.models.token_norm import token_norm_layer

__all__ = ["RecurrentLanguageModel"]


class RecurrentLanguageModel(nn.Module):
    """A causal LSTM or GRU language model over token windows.

    Token embeddings (``cfg.embed``) pass through dropout and ``cfg.layers`` unidirectional
    recurrent layers of ``cfg.units``; each step's output, after dropout, gives the logits of the
    next token. With ``cfg.tie_embeddings`` the output layer shares its weight with the token
    embedding (Inan et al. 2017; Press & Wolf 2017); when ``units != embed`` a linear projection
    maps the recurrent outputs to ``embed`` first. Embedding and output weights start uniform in
    [-0.1, 0.1] and the output bias at zero.

    ``cfg.norm`` normalizes each step's recurrent output before the output layer, each token on its
    own: ``layer`` (over its ``units``), ``group`` (``cfg.norm_groups`` groups of units) or ``none``.
    ``batch`` and ``ghost`` are refused: statistics over the batch's tokens would show every step
    the later steps.

    Args:
        spec: a ``tokens`` input with ``vocab_size``.
        cfg: the ``model`` section: ``name`` (``lstm`` or ``gru``), ``embed``, ``units``,
            ``layers``, ``dropout``, ``tie_embeddings``, ``norm`` (and ``norm_groups``);
            ``bidirectional`` must be false.

    Raises:
        ConfigError: the input is not token ids, the name is not lstm / gru, ``bidirectional``
            is set (a language model may not read ahead), or ``cfg.norm`` is batch or ghost, or group
            with ``norm_groups`` not dividing the units into groups of 2 or more.

    Example:
        >>> spec = InputSpec("tokens", (), vocab_size=30, max_length=16)
        >>> model = RecurrentLanguageModel(spec, ModelConfig(name="lstm", embed=16, units=24))
        >>> model(torch.randint(0, 30, (2, 16))).shape
        torch.Size([2, 16, 30])
    """

    def __init__(self, spec: InputSpec, cfg: ModelConfig) -> None:
        super().__init__()
        if spec.kind != "tokens" or not spec.vocab_size:
            raise ConfigError(f"model.name: a {cfg.name} language model reads token ids, got {spec.kind} data")
        if cfg.bidirectional:
            raise ConfigError(
                "model.bidirectional: a language model reads left to right only; set it to false for "
                "data.task: language_model"
            )
        self.vocab_size = spec.vocab_size
        self.embedding = InputEmbedding(spec, cfg.embed, padding=False)
        self.dropout = dropout_layer(cfg.dropout)
        self.rnn = make_recurrent(cfg, bidirectional=False)
        units = self.rnn.hidden_size
        self.norm = token_norm_layer(_output_norm(cfg, units), units, cfg.norm_groups)
        self.project: nn.Module = nn.Identity()
        if cfg.tie_embeddings:
            if units != cfg.embed:
                self.project = nn.Linear(units, cfg.embed)
            self.decoder = nn.Linear(cfg.embed, spec.vocab_size)
        else:
            self.decoder = nn.Linear(units, spec.vocab_size)
        # Small uniform tables, as in Zaremba et al. (2014) and AWD-LSTM, so that the first
        # predictions are close to uniform: N(0, 1) rows shared with the output layer spread the
        # initial logits about 20 times wider.
        nn.init.uniform_(self.embedding.layer.weight, -0.1, 0.1)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if cfg.tie_embeddings:
            self.decoder.weight = self.embedding.layer.weight

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits at every step.

        Args:
            x: ``(batch, time)`` int64 token ids.
            lengths: ``(batch,)`` valid steps (padded windows are packed), or ``None``.

        Returns:
            ``(batch, time, vocab_size)`` logits; those at step ``t`` predict token ``t + 1``, and
            depend on tokens ``<= t`` only.
        """
        outputs, _ = run_recurrent(self.rnn, self.dropout(self.embedding(x)), lengths)
        return self.decoder(self.project(self.dropout(self.norm(outputs))))  # type: ignore[no-any-return]


def _output_norm(cfg: ModelConfig, units: int) -> str:
    """The token norm of ``cfg.norm`` on a language model's recurrent outputs, or a one-line error."""
    norm = cfg.norm or "none"
    if norm in ("batch", "ghost"):
        raise ConfigError(
            f"model.norm: {norm} would let every step of the language model (model.name: {cfg.name}) see the later "
            "steps of the batch through the batch statistics; use layer, group or none"
        )
    if norm == "group" and (units % cfg.norm_groups or units == cfg.norm_groups):
        raise ConfigError(
            f"model.norm_groups: {cfg.norm_groups} must divide the {units} recurrent units into groups of 2 or more "
            "(model.norm: group); change model.norm_groups or model.units"
        )
    return norm
