"""Byte-level BPE tokenizer, trained with the Hugging Face ``tokenizers`` package.

The text is split into words and whitespace runs (GPT-2's rule), each written as UTF-8 bytes; the
vocabulary starts from the 4 special tokens (ids 0-3) and the 256 single bytes, and byte-pair merges
are learned on the training text until ``vocab_size`` tokens exist (fewer when the text offers no
more merges). Since every byte has a token, any text encodes without ``UNK`` and decodes back
exactly (``decode(encode(text)) == text``, lowercased with ``lowercase``).

Nothing is downloaded: the tokenizer is trained from scratch and saved as the package's JSON (inside
:meth:`BpeTokenizer.state_dict`). The package is the optional extra ``batchlab[text]``; it is imported
only when a ``bpe`` tokenizer is built or loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from batchlab.data.sequences.ragged import Ragged
from batchlab.data.text.tokenizer import SPECIAL_TOKENS, Tokenizer, check_vocab_size, ragged_from_ids
from batchlab.errors import ConfigError, DataError

if TYPE_CHECKING:
    from typing import Self

    import tokenizers

__all__ = ["BpeTokenizer", "require_tokenizers"]

_FIRST_ID = len(SPECIAL_TOKENS)


def require_tokenizers() -> Any:
    """The ``tokenizers`` module.

    Raises:
        ConfigError: it is not installed; the message names the extra to install.
    """
    try:
        import tokenizers
    except ImportError:
        raise ConfigError(
            "data.tokenizer.kind: bpe needs the tokenizers package; install it with pip install 'batchlab[text]'"
        ) from None
    return tokenizers


class BpeTokenizer(Tokenizer):
    """Byte-level byte-pair encoding.

    Args:
        vocab_size: largest vocabulary, the 4 special and 256 byte tokens included
            (``data.tokenizer.vocab_size``, more than 260).
        min_freq: fewest occurrences of a pair of tokens in the training text for it to be merged
            (``data.tokenizer.min_freq``).
        lowercase: lowercase text before tokenizing (``data.tokenizer.lowercase``).

    Attributes:
        model_: the trained ``tokenizers.Tokenizer``.
    """

    kind: ClassVar[str] = "bpe"
    model_: tokenizers.Tokenizer

    def __init__(self, *, vocab_size: int = 8000, min_freq: int = 1, lowercase: bool = False) -> None:
        check_vocab_size(self.kind, vocab_size)
        self.vocab_size_limit = vocab_size
        self.min_freq = min_freq
        self.lowercase = lowercase

    def fit(self, texts: Iterable[str]) -> Self:
        """Learn merges from the training texts (one call of the package's trainer; deterministic)."""
        hf = require_tokenizers()
        model = hf.Tokenizer(hf.models.BPE())
        if self.lowercase:
            model.normalizer = hf.normalizers.Lowercase()
        model.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        model.decoder = hf.decoders.ByteLevel()
        trainer = hf.trainers.BpeTrainer(
            vocab_size=self.vocab_size_limit,
            min_frequency=self.min_freq,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        seen = 0

        def counted() -> Iterable[str]:
            nonlocal seen
            for text in texts:
                seen += len(text)
                yield text

        model.train_from_iterator(counted(), trainer=trainer)
        if seen == 0:
            raise DataError("data: the training text is empty; there is nothing to fit the bpe tokenizer on")
        self._set_model(model)
        return self

    def _set_model(self, model: tokenizers.Tokenizer) -> None:
        for index, name in enumerate(SPECIAL_TOKENS):
            if model.token_to_id(name) != index:
                raise ValueError(f"bpe vocabulary has {name!r} at id {model.token_to_id(name)}, not {index}")
        # Text such as "<pad>" is ordinary text: never match special tokens inside it.
        model.encode_special_tokens = True
        self.model_ = model

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (never ``UNK``: every byte has a token)."""
        return list(self.model_.encode(text, add_special_tokens=False).ids)

    def encode_many(self, texts: Sequence[str], max_length: int | None = None) -> tuple[Ragged, int]:
        """Token ids of many texts (see :meth:`Tokenizer.encode_many`), encoded as one batch."""
        encodings = self.model_.encode_batch(list(texts), add_special_tokens=False)
        return ragged_from_ids([e.ids for e in encodings], max_length)

    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        """Text of ``ids``; runs of regular ids are decoded together, so multi-byte characters survive."""
        pieces: list[str] = []
        run: list[int] = []
        for index in map(int, ids):
            if index >= _FIRST_ID:
                run.append(index)
                continue
            if run:
                pieces.append(self.model_.decode(run, skip_special_tokens=False))
                run = []
            pieces.append(self._special_text(index, skip_special))
        if run:
            pieces.append(self.model_.decode(run, skip_special_tokens=False))
        return "".join(pieces)

    @property
    def vocab_size(self) -> int:
        return int(self.model_.get_vocab_size())

    def tokens_of(self, text: str) -> list[str]:
        """The piece of ``text`` behind each token (pieces of one character split over several
        byte tokens repeat that character)."""
        encoding = self.model_.encode(text, add_special_tokens=False)
        return [text[start:end] for start, end in encoding.offsets]

    def unknown_characters(self, text: str) -> list[str]:
        """Always empty: every byte has a token."""
        return []

    def _regular_token(self, index: int) -> str:
        return str(self.model_.id_to_token(index))

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vocab_size": self.vocab_size_limit,
            "min_freq": self.min_freq,
            "lowercase": self.lowercase,
            "model": self.model_.to_str(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BpeTokenizer:
        """Rebuild a fitted tokenizer from :meth:`state_dict` (the package's JSON; nothing is downloaded)."""
        hf = require_tokenizers()
        tok = cls(
            vocab_size=int(state["vocab_size"]), min_freq=int(state["min_freq"]), lowercase=bool(state["lowercase"])
        )
        try:
            model = hf.Tokenizer.from_str(str(state["model"]))
        except Exception as exc:  # the package raises a bare Exception for malformed JSON
            raise ValueError(f"bpe model JSON cannot be read: {exc}") from None
        tok._set_model(model)
        return tok
