"""Word tokenizer: words and punctuation marks, with a vocabulary of the most frequent ones.

Text is cut by :data:`WORD_PATTERN`: a token is either a word (a run of letters, digits and
underscores, possibly joined by inner apostrophes: ``don't``, ``o'clock``) or a single character that
is neither a word character nor whitespace (punctuation, symbols, emoji). Whitespace separates tokens
and is not kept.

The vocabulary holds the tokens seen at least ``min_freq`` times in the training text, the most
frequent first (ties in code-point order of the token), at most ``vocab_size`` entries including the
4 special tokens. Other tokens encode as ``UNK``.

Decoding is lossy: tokens are joined with single spaces, so the original spacing (``"Hi, you!"`` comes
back as ``"Hi , you !"``), the case (with ``lowercase``) and unknown words (``<unk>``) are not restored.

Example:
    >>> tok = WordTokenizer(vocab_size=8, lowercase=True).fit(["The cat sat.", "The dog sat!"])
    >>> tok.tokens_
    ['sat', 'the', '!', '.']
    >>> tok.decode(tok.encode("the dog sat.")), tok.unknown_characters("the dog sat")
    ('the <unk> sat .', ['dog'])
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from batchlab.data.text.tokenizer import SPECIAL_TOKENS, UNK, Tokenizer, check_vocab_size
from batchlab.errors import DataError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["WORD_PATTERN", "WordTokenizer"]

WORD_PATTERN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
"""A word (word characters, inner apostrophes allowed) or one other non-space character."""

_FIRST_ID = len(SPECIAL_TOKENS)


class WordTokenizer(Tokenizer):
    """Words and punctuation marks.

    Args:
        vocab_size: largest vocabulary, special tokens included (``data.tokenizer.vocab_size``).
        min_freq: fewest occurrences in the training text for a token to be kept
            (``data.tokenizer.min_freq``).
        lowercase: lowercase text before tokenizing (``data.tokenizer.lowercase``).

    Attributes:
        vocab_size_limit: the ``vocab_size`` setting (:attr:`vocab_size` is the fitted size, which is
            smaller when the training text has fewer distinct tokens).
        tokens_: the regular tokens, most frequent first; ``tokens_[i]`` has id ``4 + i``.
    """

    kind: ClassVar[str] = "word"
    tokens_: list[str]

    def __init__(self, *, vocab_size: int = 8000, min_freq: int = 1, lowercase: bool = False) -> None:
        check_vocab_size(self.kind, vocab_size)
        self.vocab_size_limit = vocab_size
        self.min_freq = min_freq
        self.lowercase = lowercase

    def _words(self, text: str) -> list[str]:
        return WORD_PATTERN.findall(self._normalize(text))

    def fit(self, texts: Iterable[str]) -> Self:
        """Count the tokens of the training texts; keep the most frequent ones that meet ``min_freq``."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(self._words(text))
        kept = sorted((w for w, n in counts.items() if n >= self.min_freq), key=lambda w: (-counts[w], w))
        if not kept:
            raise DataError(
                f"data.tokenizer.min_freq: no word of the training text occurs {self.min_freq} times "
                f"({len(counts)} distinct words); lower data.tokenizer.min_freq"
            )
        self._set_tokens(kept[: self.vocab_size_limit - _FIRST_ID])
        return self

    def _set_tokens(self, tokens: list[str]) -> None:
        self.tokens_ = tokens
        self._index = {t: i + _FIRST_ID for i, t in enumerate(tokens)}

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; tokens outside the vocabulary become ``UNK``."""
        index = self._index
        return [index.get(w, UNK) for w in self._words(text)]

    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        """Tokens of ``ids`` joined by single spaces (lossy: see the module docstring)."""
        tokens = self.tokens_
        pieces = (
            tokens[i - _FIRST_ID] if i >= _FIRST_ID else self._special_text(i, skip_special) for i in map(int, ids)
        )
        return " ".join(p for p in pieces if p)

    @property
    def vocab_size(self) -> int:
        return _FIRST_ID + len(self.tokens_)

    def tokens_of(self, text: str) -> list[str]:
        """The (normalized) words and marks of ``text``, unknown ones as ``<unk>``."""
        unk = SPECIAL_TOKENS[UNK]
        return [w if w in self._index else unk for w in self._words(text)]

    def unknown_characters(self, text: str) -> list[str]:
        """Distinct words and marks of ``text`` (after lowercasing, if set) that have no token."""
        return list(dict.fromkeys(w for w in self._words(text) if w not in self._index))

    def _regular_token(self, index: int) -> str:
        return self.tokens_[index - _FIRST_ID]

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vocab_size": self.vocab_size_limit,
            "min_freq": self.min_freq,
            "lowercase": self.lowercase,
            "tokens": self.tokens_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WordTokenizer:
        """Rebuild a fitted tokenizer from :meth:`state_dict`."""
        tok = cls(
            vocab_size=int(state["vocab_size"]), min_freq=int(state["min_freq"]), lowercase=bool(state["lowercase"])
        )
        tokens = [str(t) for t in state["tokens"]]
        if len(set(tokens)) != len(tokens) or len(tokens) + _FIRST_ID > tok.vocab_size_limit:
            raise ValueError("word tokens must be distinct and fit in vocab_size")
        tok._set_tokens(tokens)
        return tok
