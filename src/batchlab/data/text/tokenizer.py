"""The tokenizer interface, the special tokens every kind shares, and the factory functions.

A tokenizer turns text into int64 token ids and back. Three kinds exist (``data.tokenizer.kind``):

* ``char`` (:class:`~batchlab.data.text.char.CharTokenizer`): one token per character;
* ``word`` (:class:`~batchlab.data.text.word.WordTokenizer`): words and punctuation marks;
* ``bpe`` (:class:`~batchlab.data.text.bpe.BpeTokenizer`): byte-level byte-pair encoding trained with
  the Hugging Face ``tokenizers`` package (the ``batchlab[text]`` extra).

Every kind reserves the same four ids, so that models and batching never ask which kind they have:
``PAD = 0`` (padding; batches are padded with zeros), ``UNK = 1`` (text the vocabulary cannot
represent), ``CLS = 2`` (the class token that ``cls`` pooling prepends) and ``EOS = 3`` (end of text,
for generation). Encoding never produces ``PAD``, ``CLS`` or ``EOS``; the text ``"<pad>"`` is encoded
as ordinary characters, not as the special token.

A tokenizer learns only in ``fit`` (on the training split), is deterministic (the same texts give the
same vocabulary and ids) and round-trips through JSON (:meth:`Tokenizer.state_dict`,
:func:`tokenizer_from_state`).

Example:
    >>> from batchlab.config import TokenizerConfig
    >>> tok = build_tokenizer(TokenizerConfig(kind="char")).fit(["abba", "cab"])
    >>> tok.vocab_size, tok.encode("abc"), tok.decode(tok.encode("abc"))
    (7, [4, 5, 6], 'abc')
    >>> ids, truncated = tok.encode_many(["abba", "c"], max_length=3)
    >>> ids.values.tolist(), ids.lengths.tolist(), truncated
    ([4, 5, 5, 6], [3, 1], 1)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from batchlab.data.sequences.ragged import Ragged
from batchlab.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from typing import Self

    from batchlab.config import TokenizerConfig

__all__ = [
    "BYTE_TOKENS",
    "CLS",
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "TOKENIZER_KINDS",
    "UNK",
    "Tokenizer",
    "build_tokenizer",
    "check_vocab_size",
    "ragged_from_ids",
    "tokenizer_from_state",
]

PAD = 0
"""Padding id: padded batches are filled with it (models mask it)."""
UNK = 1
"""Unknown id: characters, words or other text the vocabulary cannot represent."""
CLS = 2
"""Class-token id, prepended to a sequence by models with ``cls`` pooling."""
EOS = 3
"""End-of-text id, for generation; encoding never inserts it."""
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<unk>", "<cls>", "<eos>")
"""Names of the special tokens; ``SPECIAL_TOKENS[i]`` has id ``i``. Regular tokens start at id 4."""
BYTE_TOKENS = 256
"""Byte-level BPE: the 256 single-byte tokens that every BPE vocabulary holds before any merge."""
TOKENIZER_KINDS = ("char", "word", "bpe")


class Tokenizer(ABC):
    """Text to token ids and back; learned from training text by :meth:`fit`.

    Subclasses take their settings (``lowercase``, ``min_freq``, ``vocab_size``) in the constructor and
    learn the vocabulary in :meth:`fit`; the learned state has names ending in ``_``. Ids ``0..3`` are
    :data:`SPECIAL_TOKENS` in every kind.

    Attributes:
        kind: ``"char"``, ``"word"`` or ``"bpe"`` (the ``kind`` key of :meth:`state_dict`).
        lowercase: text is lowercased before it is tokenized (fit and encode alike).
    """

    kind: ClassVar[str]
    lowercase: bool

    @abstractmethod
    def fit(self, texts: Iterable[str]) -> Self:
        """Learn the vocabulary from training texts (only ever the training split).

        Returns:
            ``self``, fitted.

        Raises:
            DataError: the texts hold no token that meets the vocabulary's rules.
        """

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, in order; text the vocabulary cannot represent becomes :data:`UNK`."""

    def encode_many(self, texts: Sequence[str], max_length: int | None = None) -> tuple[Ragged, int]:
        """Token ids of many texts, stored end to end, each cut to at most ``max_length`` tokens.

        Args:
            texts: ``n`` texts.
            max_length: keep the first ``max_length`` tokens of each text; ``None`` keeps all.

        Returns:
            ``(ids, truncated)``: ``ids`` holds ``n`` sequences of int64 ids (``ids.values`` is
            ``(total_tokens,)``), and ``truncated`` is how many texts had more than ``max_length``
            tokens.
        """
        return ragged_from_ids([self.encode(text) for text in texts], max_length)

    @abstractmethod
    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        """Text of token ids (the inverse of :meth:`encode` for text the vocabulary covers).

        Args:
            ids: token ids, e.g. a generated sequence.
            skip_special: drop ``PAD``, ``CLS`` and ``EOS``; when false they appear as ``<pad>``,
                ``<cls>``, ``<eos>``. ``UNK`` always appears as ``<unk>``.
        """

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Distinct ids, special tokens included: every id is in ``[0, vocab_size)``."""

    @abstractmethod
    def tokens_of(self, text: str) -> list[str]:
        """The text piece behind each token of ``text`` (``<unk>`` for unknown ones), for diagnostics."""

    @abstractmethod
    def unknown_characters(self, text: str) -> list[str]:
        """What ``text`` holds that the vocabulary cannot represent, distinct, in order of appearance.

        Characters for ``char``, words (and punctuation marks) for ``word``, nothing for byte-level
        ``bpe``. An empty list means that :meth:`encode` produces no :data:`UNK`.
        """

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Settings and learned vocabulary, JSON-ready; :func:`tokenizer_from_state` rebuilds it."""

    def token(self, index: int) -> str:
        """The vocabulary entry of id ``index`` (special tokens by their names)."""
        if 0 <= index < len(SPECIAL_TOKENS):
            return SPECIAL_TOKENS[index]
        return self._regular_token(index)

    @abstractmethod
    def _regular_token(self, index: int) -> str:
        """The vocabulary entry of a regular id (``>= 4``)."""

    def _normalize(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    def _special_text(self, index: int, skip_special: bool) -> str:
        """How :meth:`decode` writes a special id."""
        if index == UNK or not skip_special:
            return SPECIAL_TOKENS[index]
        return ""


def ragged_from_ids(sequences: Sequence[Sequence[int]], max_length: int | None) -> tuple[Ragged, int]:
    """Lists of ids as a :class:`Ragged` of int64, each cut to ``max_length``; also the number cut.

    Example:
        >>> ids, cut = ragged_from_ids([[4, 5, 6], [7]], max_length=2)
        >>> ids.values.tolist(), ids.offsets.tolist(), cut
        ([4, 5, 7], [0, 2, 3], 1)
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    truncated = 0
    if max_length is not None and lengths.size and int(lengths.max()) > max_length:
        truncated = int((lengths > max_length).sum())
        sequences = [s[:max_length] for s in sequences]
        lengths = np.minimum(lengths, max_length)
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=int(offsets[-1]))
    return Ragged(torch.from_numpy(values), torch.from_numpy(offsets)), truncated


def check_vocab_size(kind: str, vocab_size: int) -> None:
    """Raise unless ``vocab_size`` leaves room for regular tokens beside the fixed ones of ``kind``.

    Every kind holds the 4 :data:`SPECIAL_TOKENS`; byte-level ``bpe`` also holds the 256 byte tokens
    before any merge. ``char`` vocabularies are sized by the training text, so ``vocab_size`` does
    not apply to them.

    Raises:
        ConfigError: one line naming ``data.tokenizer.vocab_size``, the value and the smallest allowed.
    """
    if kind == "char":
        return
    fixed = len(SPECIAL_TOKENS) + (BYTE_TOKENS if kind == "bpe" else 0)
    if vocab_size <= fixed:
        held = f"the {len(SPECIAL_TOKENS)} special tokens ({', '.join(SPECIAL_TOKENS)})"
        if kind == "bpe":
            held += f" and the {BYTE_TOKENS} byte tokens"
        raise ConfigError(
            f"data.tokenizer.vocab_size: {vocab_size} leaves no room for {'bpe' if kind == 'bpe' else 'text'} "
            "tokens: the vocabulary holds "
            f"{held} first; expected at least {fixed + 1}"
        )


def build_tokenizer(cfg: TokenizerConfig) -> Tokenizer:
    """An unfitted tokenizer with the settings of ``data.tokenizer``.

    Raises:
        ConfigError: ``vocab_size`` too small for the kind (see :func:`check_vocab_size`), or ``bpe``
            without the ``tokenizers`` package.
    """
    check_vocab_size(cfg.kind, cfg.vocab_size)
    if cfg.kind == "char":
        from batchlab.data.text.char import CharTokenizer

        return CharTokenizer(min_freq=cfg.min_freq, lowercase=cfg.lowercase)
    if cfg.kind == "word":
        from batchlab.data.text.word import WordTokenizer

        return WordTokenizer(vocab_size=cfg.vocab_size, min_freq=cfg.min_freq, lowercase=cfg.lowercase)
    from batchlab.data.text.bpe import BpeTokenizer, require_tokenizers

    require_tokenizers()
    return BpeTokenizer(vocab_size=cfg.vocab_size, min_freq=cfg.min_freq, lowercase=cfg.lowercase)


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a fitted tokenizer from its :meth:`Tokenizer.state_dict` (never refits).

    Raises:
        CheckpointError: ``state`` is not a tokenizer state, or is incomplete.
        ConfigError: a ``bpe`` state without the ``tokenizers`` package installed.
    """
    kind = state.get("kind") if isinstance(state, dict) else None
    try:
        if kind == "char":
            from batchlab.data.text.char import CharTokenizer

            return CharTokenizer.from_state(state)
        if kind == "word":
            from batchlab.data.text.word import WordTokenizer

            return WordTokenizer.from_state(state)
        if kind == "bpe":
            from batchlab.data.text.bpe import BpeTokenizer

            return BpeTokenizer.from_state(state)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"tokenizer state is incomplete or corrupt ({exc.__class__.__name__}: {exc})") from None
    raise CheckpointError(f"tokenizer state has kind {kind!r}; expected one of: {', '.join(TOKENIZER_KINDS)}")
