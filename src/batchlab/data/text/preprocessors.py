"""Fitted text preprocessing: a tokenizer (and a label encoder) learned on the training split only.

Both classes follow the estimator contract of :class:`~batchlab.data.preprocess.Preprocessor`:
settings in ``__init__``, learning only in ``fit`` (training split), learned attributes ending in
``_``, and a JSON round trip (``state_dict`` / ``from_state``) so that evaluate, predict and generate
reuse the state without refitting.

* :class:`TextPreprocessor`: texts with labels (classification, or regression of a numeric label);
  state ``"kind": "text"``.
* :class:`CorpusPreprocessor`: a corpus for language modelling; state ``"kind": "corpus"``.

:func:`text_preprocessor_from_state` rebuilds either from its state.

Example:
    >>> import numpy as np
    >>> pre = TextPreprocessor(max_length=4)
    >>> x, y, truncated = pre.fit_transform(["good", "bad", "so good"], np.array(["pos", "neg", "pos"]))
    >>> pre.classes_, y.tolist(), x.lengths.tolist(), truncated, pre.input_spec_.max_length
    (['neg', 'pos'], [1, 0, 1], [4, 3, 4], 1, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from batchlab.config import TokenizerConfig
from batchlab.data.sequences.ragged import Ragged
from batchlab.data.target import TargetEncoder, resolve_task
from batchlab.data.text.tokenizer import CLS, PAD, Tokenizer, build_tokenizer, tokenizer_from_state
from batchlab.errors import CheckpointError, ConfigError
from batchlab.inputs import InputSpec

if TYPE_CHECKING:
    from typing import Self

    from batchlab.config import DataConfig

__all__ = [
    "CORPUS_STATE_FORMAT",
    "TEXT_STATE_FORMAT",
    "CorpusPreprocessor",
    "TextPreprocessor",
    "label_series",
    "text_preprocessor_from_state",
]

TEXT_STATE_FORMAT = "batchlab.text-preprocessor/1"
"""The ``format`` key of :meth:`TextPreprocessor.state_dict`; bumped when its layout changes."""
CORPUS_STATE_FORMAT = "batchlab.corpus-preprocessor/1"
"""The ``format`` key of :meth:`CorpusPreprocessor.state_dict`."""


def label_series(labels: np.ndarray | Sequence[str], rows: np.ndarray | None = None) -> pd.Series:
    """Label strings as a series: numeric when every label is a number, so that classes sort numerically.

    Args:
        labels: ``(n,)`` label strings.
        rows: ``(n,)`` 1-based data rows of the labels (messages name them); default ``1..n``.

    Example:
        >>> label_series(["10", "9"]).dtype.kind, label_series(["ham", "9"]).dtype.kind
        ('i', 'O')
    """
    index = pd.RangeIndex(len(labels)) if rows is None else pd.Index(np.asarray(rows, dtype=np.int64) - 1)
    series = pd.Series(np.asarray(labels, dtype=object), index=index, dtype=object)
    numbers = pd.to_numeric(series, errors="coerce")
    if len(series) and not numbers.isna().any():
        return numbers
    return series


class TextPreprocessor:
    """Tokenizes labelled texts and encodes their labels, with state learned on the training split.

    Args:
        tokenizer: ``data.tokenizer`` settings (default: ``char``).
        task: ``"auto"``, ``"classification"`` or ``"regression"`` (``data.task``); ``auto`` reads
            text labels, and integer labels with few distinct values, as classes.
        max_length: at most this many tokens per text (``data.max_length``); ``None``: no limit.
        scale_target: standardize a regression label (``data.scale_target``).

    Attributes:
        task_: ``"classification"`` or ``"regression"``.
        classes_: sorted class names (numbers sorted numerically), class index = position; ``None``
            for regression.
        tokenizer_: the fitted :class:`~batchlab.data.text.tokenizer.Tokenizer`.
        target_: the fitted :class:`~batchlab.data.target.TargetEncoder`.
        max_length_: tokens kept per text: the longest training text's token count, at most
            ``max_length``. Every split is cut to it, so no held-out text is longer than what the
            model saw in training (cut texts are counted).
        input_spec_: ``InputSpec("tokens", (), vocab_size, pad_id=0, cls_id=2, max_length_,
            variable_length=True)``.
        text_column_: the text column read in training (``predict`` and ``evaluate --data`` read it).
        target_column_: the label column read in training.
    """

    task_: str
    classes_: list[str] | None
    tokenizer_: Tokenizer
    target_: TargetEncoder
    max_length_: int
    text_column_: str
    target_column_: str | None

    def __init__(
        self,
        *,
        tokenizer: TokenizerConfig | None = None,
        task: str = "auto",
        max_length: int | None = 256,
        scale_target: bool = True,
    ) -> None:
        self.tokenizer = tokenizer if tokenizer is not None else TokenizerConfig()
        self.task = task
        self.max_length = max_length
        self.scale_target = scale_target

    @classmethod
    def from_config(cls, cfg: DataConfig, *, task: str | None = None) -> TextPreprocessor:
        """A preprocessor with the settings of a ``data`` section; ``task`` overrides ``cfg.task``."""
        return cls(
            tokenizer=cfg.tokenizer, task=task or cfg.task, max_length=cfg.max_length, scale_target=cfg.scale_target
        )

    def fit(
        self,
        texts: Sequence[str],
        labels: np.ndarray | Sequence[str],
        *,
        text_column: str = "text",
        target_column: str | None = None,
    ) -> Self:
        """Learn the tokenizer from the training texts and the label encoding from their labels.

        Args:
            texts: ``n`` training texts.
            labels: ``(n,)`` their label strings.
            text_column: the text column's name (saved for inference).
            target_column: the label column's name (saved for inference and named in messages).

        Returns:
            ``self``, fitted.

        Raises:
            ConfigError: ``task`` is ``language_model``; a bad tokenizer setting.
            DataError: a single class, a non-numeric regression label, no token meeting ``min_freq``.
        """
        self.fit_transform(texts, labels, text_column=text_column, target_column=target_column)
        return self

    def fit_transform(
        self,
        texts: Sequence[str],
        labels: np.ndarray | Sequence[str],
        *,
        text_column: str = "text",
        target_column: str | None = None,
        rows: np.ndarray | None = None,
    ) -> tuple[Ragged, torch.Tensor, int]:
        """:meth:`fit`, then :meth:`transform` of the same rows (tokenizing them once).

        Args:
            texts, labels, text_column, target_column: as in :meth:`fit`.
            rows: ``(n,)`` 1-based data rows of the texts, for messages about labels.

        Returns:
            ``(x, y, truncated)`` as :meth:`transform` (``y`` is never ``None``).
        """
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if self.task == "language_model":
            raise ConfigError(
                "data.task: language_model needs a .txt corpus; a table with data.text is for "
                "classification or regression"
            )
        values = label_series(labels, rows)
        task = resolve_task(self.task, values)
        self.task_ = task
        self.text_column_, self.target_column_ = text_column, target_column
        label = f"data.target: column '{target_column}'" if target_column else "data.target"
        self.target_ = TargetEncoder(task, scale=self.scale_target, label=label).fit(values)
        self.classes_ = self.target_.classes_
        self.tokenizer_ = build_tokenizer(self.tokenizer).fit(texts)
        x, _ = self.tokenizer_.encode_many(texts, None)
        longest = int(x.lengths.max()) if len(x) else 1
        self.max_length_ = max(1, min(longest, self.max_length) if self.max_length is not None else longest)
        truncated = int((x.lengths > self.max_length_).sum())
        if truncated:
            x = _cut(x, self.max_length_)
        y = torch.from_numpy(np.ascontiguousarray(self.target_.transform(values)))
        return x, y, truncated

    def transform(
        self, texts: Sequence[str], labels: np.ndarray | Sequence[str] | None = None, *, rows: np.ndarray | None = None
    ) -> tuple[Ragged, torch.Tensor | None, int]:
        """Token ids and encoded labels, using only the fitted state.

        Args:
            texts: ``n`` texts.
            labels: ``(n,)`` label strings, or ``None`` (prediction input).
            rows: ``(n,)`` 1-based data rows of the texts, for messages about labels.

        Returns:
            ``(x, y, truncated)``: ``x`` the ids of each text cut to ``max_length_`` tokens (int64,
            end to end); ``y`` ``(n,)`` int64 class indices or float32 scaled regression labels, or
            ``None`` without labels; ``truncated`` the number of texts that were cut.

        Raises:
            DataError: a class not seen in training, a non-numeric regression label.
        """
        x, truncated = self.tokenizer_.encode_many(texts, self.max_length_)
        if labels is None:
            return x, None, truncated
        encoded = self.target_.transform(label_series(labels, rows))
        return x, torch.from_numpy(np.ascontiguousarray(encoded)), truncated

    def inverse_target(self, t: torch.Tensor) -> torch.Tensor:
        """Regression outputs (scaled) back to the label's units, any shape; classification unchanged."""
        return self.target_.inverse(t)

    @property
    def target_mean_(self) -> float | None:
        """Regression: the training label mean subtracted; else ``None``."""
        return self.target_.mean_ if self.task_ == "regression" else None

    @property
    def target_std_(self) -> float | None:
        """Regression: the training label standard deviation divided by; else ``None``."""
        return self.target_.std_ if self.task_ == "regression" else None

    @property
    def target_name_(self) -> str | None:
        """The label column (the name the table preprocessor uses)."""
        return self.target_column_

    @property
    def input_spec_(self) -> InputSpec:
        return InputSpec(
            "tokens",
            (),
            vocab_size=self.tokenizer_.vocab_size,
            pad_id=PAD,
            cls_id=CLS,
            max_length=self.max_length_,
            variable_length=True,
        )

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted state, JSON-ready (``json.dumps`` works on it)."""
        return {
            "format": TEXT_STATE_FORMAT,
            "kind": "text",
            "settings": {
                "tokenizer": self.tokenizer.model_dump(mode="json"),
                "task": self.task,
                "max_length": self.max_length,
                "scale_target": self.scale_target,
            },
            "task": self.task_,
            "text_column": self.text_column_,
            "target_column": self.target_column_,
            "max_length": self.max_length_,
            "target": self.target_.state_dict(),
            "tokenizer": self.tokenizer_.state_dict(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`state_dict` (never refits).

        Raises:
            CheckpointError: ``state`` is not a text preprocessor state of this format.
        """
        _check_format(state, TEXT_STATE_FORMAT)
        try:
            settings = state["settings"]
            pre = cls(
                tokenizer=TokenizerConfig.model_validate(settings["tokenizer"]),
                task=str(settings["task"]),
                max_length=settings["max_length"],
                scale_target=bool(settings["scale_target"]),
            )
            pre.task_ = state["task"]
            pre.text_column_ = str(state["text_column"])
            pre.target_column_ = state["target_column"]
            pre.max_length_ = int(state["max_length"])
            pre.target_ = TargetEncoder.from_state(state["target"])
            pre.classes_ = pre.target_.classes_
            tokenizer_state = state["tokenizer"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"text preprocessor state is incomplete or corrupt ({exc.__class__.__name__})"
            ) from None
        pre.tokenizer_ = tokenizer_from_state(tokenizer_state)
        return pre


class CorpusPreprocessor:
    """Tokenizes a corpus for language modelling, with the tokenizer learned on the training section.

    Args:
        tokenizer: ``data.tokenizer`` settings (default: ``char``).
        context: tokens per training window (``data.context``).

    Attributes:
        task_: ``"language_model"``.
        classes_: ``None``.
        tokenizer_: the fitted :class:`~batchlab.data.text.tokenizer.Tokenizer`.
        input_spec_: ``InputSpec("tokens", (), vocab_size, pad_id=0, max_length=context,
            variable_length=False)``: every window has ``context`` tokens.
    """

    task_ = "language_model"
    classes_: list[str] | None = None
    tokenizer_: Tokenizer

    def __init__(self, *, tokenizer: TokenizerConfig | None = None, context: int = 128) -> None:
        self.tokenizer = tokenizer if tokenizer is not None else TokenizerConfig()
        self.context = context

    @classmethod
    def from_config(cls, cfg: DataConfig) -> CorpusPreprocessor:
        """A preprocessor with the settings of a ``data`` section."""
        return cls(tokenizer=cfg.tokenizer, context=cfg.context)

    def fit(self, text: str) -> Self:
        """Learn the tokenizer from the training section ``text`` (fed to it line by line).

        Raises:
            ConfigError: a bad tokenizer setting.
            DataError: no token meets ``data.tokenizer.min_freq``.
        """
        self.tokenizer_ = build_tokenizer(self.tokenizer).fit(text.splitlines(keepends=True))
        return self

    def transform(self, text: str) -> torch.Tensor:
        """``(tokens,)`` int64 ids of ``text`` in order (no special tokens are inserted).

        The text is encoded line by line; the ids are the same as for the whole text with ``char``
        and ``word`` tokenizers (no token spans a line end).
        """
        ids, _ = self.tokenizer_.encode_many(text.splitlines(keepends=True), None)
        return ids.values

    @property
    def input_spec_(self) -> InputSpec:
        return InputSpec(
            "tokens",
            (),
            vocab_size=self.tokenizer_.vocab_size,
            pad_id=PAD,
            max_length=self.context,
            variable_length=False,
        )

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted tokenizer, JSON-ready."""
        return {
            "format": CORPUS_STATE_FORMAT,
            "kind": "corpus",
            "settings": {"tokenizer": self.tokenizer.model_dump(mode="json"), "context": self.context},
            "task": self.task_,
            "tokenizer": self.tokenizer_.state_dict(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CorpusPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`state_dict` (never refits).

        Raises:
            CheckpointError: ``state`` is not a corpus preprocessor state of this format.
        """
        _check_format(state, CORPUS_STATE_FORMAT)
        try:
            settings = state["settings"]
            pre = cls(tokenizer=TokenizerConfig.model_validate(settings["tokenizer"]), context=int(settings["context"]))
            tokenizer_state = state["tokenizer"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"corpus preprocessor state is incomplete or corrupt ({exc.__class__.__name__})"
            ) from None
        pre.tokenizer_ = tokenizer_from_state(tokenizer_state)
        return pre


def text_preprocessor_from_state(state: dict[str, Any]) -> TextPreprocessor | CorpusPreprocessor:
    """Rebuild a text (``"kind": "text"``) or corpus (``"kind": "corpus"``) preprocessor from its state.

    Table and image preprocessor states have no ``kind`` key; they belong to
    :meth:`~batchlab.data.preprocess.Preprocessor.from_state`.

    Raises:
        CheckpointError: ``state`` is neither kind, or is incomplete.
    """
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == "text":
        return TextPreprocessor.from_state(state)
    if kind == "corpus":
        return CorpusPreprocessor.from_state(state)
    raise CheckpointError(f"preprocessor state has kind {kind!r}; expected 'text' or 'corpus'")


def _check_format(state: Any, expected: str) -> None:
    if not isinstance(state, dict) or state.get("format") != expected:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"preprocessor state has format {found!r}; expected {expected!r}")


def _cut(x: Ragged, max_length: int) -> Ragged:
    """Each sequence of ``x`` cut to its first ``max_length`` steps."""
    lengths = x.lengths
    starts = torch.repeat_interleave(x.offsets[:-1], lengths)
    keep = torch.arange(len(x.values)) - starts < max_length
    offsets = torch.zeros_like(x.offsets)
    torch.cumsum(lengths.clamp(max=max_length), 0, out=offsets[1:])
    return Ragged(x.values[keep], offsets)
