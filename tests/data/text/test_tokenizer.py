"""Tests of batchlab.data.text.tokenizer: special ids, the factory, state loading, vocabulary checks."""

from __future__ import annotations

import json

import pytest

from batchlab.config import TokenizerConfig, make_config
from batchlab.data.text.char import CharTokenizer
from batchlab.data.text.tokenizer import (
    CLS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    build_tokenizer,
    check_vocab_size,
    ragged_from_ids,
    tokenizer_from_state,
)
from batchlab.data.text.word import WordTokenizer
from batchlab.errors import CheckpointError, ConfigError


def test_special_ids_are_fixed_and_padding_is_zero() -> None:
    assert (PAD, UNK, CLS, EOS) == (0, 1, 2, 3)
    assert SPECIAL_TOKENS == ("<pad>", "<unk>", "<cls>", "<eos>")


@pytest.mark.parametrize("kind", ["char", "word"])
def test_every_kind_names_the_special_ids_the_same(kind: str) -> None:
    tok = build_tokenizer(TokenizerConfig(kind=kind)).fit(["aab"])  # type: ignore[arg-type]
    first = tok.token(4)  # "a" for char, "aab" for word
    assert [tok.token(i) for i in range(4)] == list(SPECIAL_TOKENS) and first in ("a", "aab")
    assert tok.decode([PAD, 4, CLS, UNK, EOS], skip_special=False).replace(" ", "") == f"<pad>{first}<cls><unk><eos>"
    assert tok.decode([PAD, 4, CLS, UNK, EOS]).replace(" ", "") == f"{first}<unk>"


def test_build_tokenizer_passes_the_settings() -> None:
    tok = build_tokenizer(TokenizerConfig(kind="word", vocab_size=9, min_freq=2, lowercase=True))
    assert isinstance(tok, WordTokenizer)
    assert (tok.vocab_size_limit, tok.min_freq, tok.lowercase) == (9, 2, True)
    char = build_tokenizer(TokenizerConfig(kind="char", min_freq=3))
    assert isinstance(char, CharTokenizer) and char.min_freq == 3


def test_ragged_from_ids_cuts_and_counts() -> None:
    ids, cut = ragged_from_ids([[4, 5, 6], [7], [8, 9]], max_length=2)
    assert ids.values.tolist() == [4, 5, 7, 8, 9] and ids.lengths.tolist() == [2, 1, 2] and cut == 1
    ids, cut = ragged_from_ids([[4, 5, 6], []], max_length=None)
    assert ids.values.tolist() == [4, 5, 6] and ids.lengths.tolist() == [3, 0] and cut == 0


@pytest.mark.parametrize(("kind", "size", "smallest"), [("word", 4, 5), ("bpe", 260, 261)])
def test_too_small_vocabulary_is_one_line_naming_the_field_and_why(kind: str, size: int, smallest: int) -> None:
    with pytest.raises(ConfigError) as raised:
        check_vocab_size(kind, size)
    message = str(raised.value)
    assert message.startswith(f"data.tokenizer.vocab_size: {size} ")
    assert "4 special tokens" in message and f"expected at least {smallest}" in message and "\n" not in message
    assert ("256 byte tokens" in message) == (kind == "bpe")
    check_vocab_size(kind, smallest)  # the smallest allowed passes


@pytest.mark.parametrize(("kind", "size"), [("word", 4), ("bpe", 260)])
def test_config_rejects_the_same_vocabularies_with_the_same_message(kind: str, size: int) -> None:
    with pytest.raises(ConfigError) as from_config:
        make_config(overrides=[f"data.tokenizer.kind={kind}", f"data.tokenizer.vocab_size={size}"])
    with pytest.raises(ConfigError) as from_check:
        check_vocab_size(kind, size)
    assert str(from_config.value) == str(from_check.value)


def test_state_of_unknown_kind_or_corrupt_state_is_a_checkpoint_error() -> None:
    with pytest.raises(CheckpointError, match="kind 'sentencepiece'; expected one of: char, word, bpe"):
        tokenizer_from_state({"kind": "sentencepiece"})
    with pytest.raises(CheckpointError, match="incomplete or corrupt"):
        tokenizer_from_state({"kind": "char", "lowercase": False})
    with pytest.raises(CheckpointError, match="incomplete or corrupt"):
        tokenizer_from_state({"kind": "char", "lowercase": False, "min_freq": 1, "tokens": ["ab"]})


@pytest.mark.parametrize("kind", ["char", "word"])
def test_state_round_trip_through_json_gives_the_same_ids(kind: str) -> None:
    texts = ["To be, or not to be: that is the question.", "Whether 'tis nobler in the mind to suffer"]
    tok = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=20)).fit(texts)  # type: ignore[arg-type]
    loaded = tokenizer_from_state(json.loads(json.dumps(tok.state_dict())))
    probe = "the slings and arrows of outrageous fortune, to be"
    assert type(loaded) is type(tok) and loaded.vocab_size == tok.vocab_size
    assert loaded.encode(probe) == tok.encode(probe) and UNK in tok.encode(probe)
