"""Tests of batchlab.data.text.bpe: byte-level BPE through the tokenizers package."""

from __future__ import annotations

import json
import sys

import pytest

from batchlab.config import TokenizerConfig
from batchlab.data.text.tokenizer import CLS, EOS, PAD, SPECIAL_TOKENS, UNK, build_tokenizer, tokenizer_from_state
from batchlab.errors import ConfigError

pytest.importorskip("tokenizers")

from batchlab.data.text.bpe import BpeTokenizer

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "the lazy dog sleeps; the quick fox runs",
    "über café naïve — 東京 🎉",
] * 20


@pytest.fixture(scope="module")
def bpe() -> BpeTokenizer:
    return BpeTokenizer(vocab_size=300).fit(CORPUS)


def test_decode_of_encode_is_the_text_even_for_unseen_characters(bpe: BpeTokenizer) -> None:
    for text in ["the quick brown fox", "Ωmega ∑ 😀 unseen\ttabs\n\n  spaces", "über 東京"]:
        ids = bpe.encode(text)
        assert bpe.decode(ids) == text and UNK not in ids and bpe.unknown_characters(text) == []


def test_special_tokens_have_the_fixed_ids(bpe: BpeTokenizer) -> None:
    assert [bpe.model_.token_to_id(name) for name in SPECIAL_TOKENS] == [PAD, UNK, CLS, EOS]
    assert [bpe.token(i) for i in range(4)] == list(SPECIAL_TOKENS)
    assert 4 + 256 < bpe.vocab_size <= 300


def test_special_token_names_in_text_are_ordinary_text(bpe: BpeTokenizer) -> None:
    ids = bpe.encode("end <eos> pad <pad>")
    assert not {PAD, CLS, EOS} & set(ids) and bpe.decode(ids) == "end <eos> pad <pad>"


def test_merges_make_frequent_words_single_tokens(bpe: BpeTokenizer) -> None:
    assert len(bpe.encode("the")) == 1 and len(bpe.encode(" quick")) == 1
    assert bpe.tokens_of("the fox") == ["the", " fox"]
    pieces = bpe.tokens_of("naïve 東")  # a character split over byte tokens shows in each of their pieces
    assert len(pieces) == len(bpe.encode("naïve 東")) and pieces[0].startswith("na") and pieces[-1] == "東"


def test_decode_writes_special_ids_only_when_asked(bpe: BpeTokenizer) -> None:
    ids = [*bpe.encode("the dog"), EOS, PAD]
    assert bpe.decode(ids) == "the dog"
    assert bpe.decode(ids, skip_special=False) == "the dog<eos><pad>"


def test_training_is_deterministic(bpe: BpeTokenizer) -> None:
    again = BpeTokenizer(vocab_size=300).fit(CORPUS)
    assert again.state_dict() == bpe.state_dict()


def test_state_round_trip_through_json_gives_the_same_ids(bpe: BpeTokenizer) -> None:
    loaded = tokenizer_from_state(json.loads(json.dumps(bpe.state_dict())))
    probe = "the lazy fox <eos> über"
    assert isinstance(loaded, BpeTokenizer) and loaded.encode(probe) == bpe.encode(probe)
    assert EOS not in loaded.encode(probe)  # the special-token rule survives loading


def test_lowercase_and_encode_many() -> None:
    tok = BpeTokenizer(vocab_size=280, lowercase=True).fit(CORPUS)
    assert tok.encode("THE Quick") == tok.encode("the quick")
    ids, cut = tok.encode_many(["the quick brown fox", "dog"], max_length=2)
    assert cut == 1 and ids.lengths.tolist() == [2, len(tok.encode("dog"))]
    assert ids.values[:2].tolist() == tok.encode("the quick brown fox")[:2]


def test_missing_package_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import now raises ImportError
    with pytest.raises(ConfigError) as raised:
        build_tokenizer(TokenizerConfig(kind="bpe", vocab_size=500))
    assert "pip install 'batchlab[text]'" in str(raised.value) and "\n" not in str(raised.value)
