"""Character tokenizer: one token per character (Unicode code point).

The vocabulary is every character that occurs at least ``min_freq`` times in the training text,
ordered by descending count, ties by code point, after the 4 special tokens. Other characters encode
as ``UNK``. ``decode(encode(text)) == text`` for any text whose characters are all in the vocabulary
(and, with ``lowercase``, that is already lowercase).

Encoding is vectorized: the text becomes an array of code points (through UTF-32) and one
``searchsorted`` over the sorted vocabulary maps them to ids, so that a 1 M-character corpus encodes
in tens of milliseconds.

Example:
    >>> tok = CharTokenizer().fit(["hello"])
    >>> tok.tokens_, tok.encode("hole"), tok.unknown_characters("help!")
    (['l', 'e', 'h', 'o'], [6, 7, 4, 5], ['p', '!'])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from batchlab.data.sequences.ragged import Ragged
from batchlab.data.text.tokenizer import SPECIAL_TOKENS, UNK, Tokenizer
from batchlab.errors import DataError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["CharTokenizer"]

_FIRST_ID = len(SPECIAL_TOKENS)


def _code_points(text: str) -> np.ndarray:
    """``(len(text),)`` uint32 code points of ``text``."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class CharTokenizer(Tokenizer):
    """One token per character.

    Args:
        min_freq: fewest occurrences in the training text for a character to get a token
            (``data.tokenizer.min_freq``); rarer ones encode as ``UNK``.
        lowercase: lowercase text before tokenizing (``data.tokenizer.lowercase``).

    Attributes:
        tokens_: the regular tokens (single characters); ``tokens_[i]`` has id ``4 + i``.
    """

    kind: ClassVar[str] = "char"
    tokens_: list[str]

    def __init__(self, *, min_freq: int = 1, lowercase: bool = False) -> None:
        self.min_freq = min_freq
        self.lowercase = lowercase

    def fit(self, texts: Iterable[str]) -> Self:
        """Count the characters of the training texts and keep those seen ``min_freq`` times or more."""
        codes, n = np.unique(_code_points("".join(map(self._normalize, texts))), return_counts=True)
        counts = dict(zip(codes.tolist(), n.tolist(), strict=True))
        kept = sorted((code for code, count in counts.items() if count >= self.min_freq), key=lambda c: (-counts[c], c))
        if not kept:
            raise DataError(
                f"data.tokenizer.min_freq: no character of the training text occurs {self.min_freq} times "
                f"({len(counts)} distinct characters); lower data.tokenizer.min_freq"
            )
        self._set_tokens([chr(code) for code in kept])
        return self

    def _set_tokens(self, tokens: list[str]) -> None:
        self.tokens_ = tokens
        codes = np.array([ord(t) for t in tokens], dtype=np.uint32)
        order = np.argsort(codes, kind="stable")
        self._sorted_codes = codes[order]
        self._sorted_ids = (order + _FIRST_ID).astype(np.int64)
        self._index = {t: i + _FIRST_ID for i, t in enumerate(tokens)}

    def _ids(self, codes: np.ndarray) -> np.ndarray:
        """``(n,)`` int64 ids of ``(n,)`` code points."""
        position = np.searchsorted(self._sorted_codes, codes).clip(max=len(self._sorted_codes) - 1)
        known = self._sorted_codes[position] == codes
        return np.where(known, self._sorted_ids[position], UNK).astype(np.int64)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; characters outside the vocabulary become ``UNK``."""
        return [int(i) for i in self._ids(_code_points(self._normalize(text)))]

    def encode_many(self, texts: Sequence[str], max_length: int | None = None) -> tuple[Ragged, int]:
        """Token ids of many texts (see :meth:`Tokenizer.encode_many`), in one vectorized pass."""
        normalized = [self._normalize(text) for text in texts]
        lengths = np.fromiter(map(len, normalized), dtype=np.int64, count=len(normalized))
        ids = self._ids(_code_points("".join(normalized)))
        truncated = 0
        if max_length is not None and lengths.size and int(lengths.max()) > max_length:
            truncated = int((lengths > max_length).sum())
            starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
            ids = ids[np.arange(ids.size) - starts < max_length]
            lengths = np.minimum(lengths, max_length)
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Ragged(torch.from_numpy(ids), torch.from_numpy(offsets)), truncated

    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        """Characters of ``ids`` joined (see :meth:`Tokenizer.decode` for the special tokens)."""
        tokens = self.tokens_
        return "".join(
            tokens[i - _FIRST_ID] if i >= _FIRST_ID else self._special_text(i, skip_special) for i in map(int, ids)
        )

    @property
    def vocab_size(self) -> int:
        return _FIRST_ID + len(self.tokens_)

    def tokens_of(self, text: str) -> list[str]:
        """The (normalized) characters of ``text``, unknown ones as ``<unk>``."""
        unk = SPECIAL_TOKENS[UNK]
        return [c if c in self._index else unk for c in self._normalize(text)]

    def unknown_characters(self, text: str) -> list[str]:
        """Distinct characters of ``text`` (after lowercasing, if set) that have no token."""
        return list(dict.fromkeys(c for c in self._normalize(text) if c not in self._index))

    def _regular_token(self, index: int) -> str:
        return self.tokens_[index - _FIRST_ID]

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "min_freq": self.min_freq, "lowercase": self.lowercase, "tokens": self.tokens_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CharTokenizer:
        """Rebuild a fitted tokenizer from :meth:`state_dict`."""
        tok = cls(min_freq=int(state["min_freq"]), lowercase=bool(state["lowercase"]))
        tokens = [str(t) for t in state["tokens"]]
        if any(len(t) != 1 for t in tokens) or len(set(tokens)) != len(tokens):
            raise ValueError("char tokens must be distinct single characters")
        tok._set_tokens(tokens)
        return tok
