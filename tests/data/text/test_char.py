"""Tests of batchlab.data.text.char: the character tokenizer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from batchlab.data.text.char import CharTokenizer
from batchlab.data.text.tokenizer import CLS, EOS, PAD, UNK
from batchlab.errors import DataError

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll: Speak, speak! — «ça va» 🎭\n"


def test_decode_of_encode_is_the_text() -> None:
    tok = CharTokenizer().fit([TEXT])
    ids = tok.encode(TEXT)
    assert len(ids) == len(TEXT) and tok.decode(ids) == TEXT
    assert min(ids) >= 4 and tok.vocab_size == 4 + len(set(TEXT))


def test_vocabulary_is_ordered_by_count_then_code_point() -> None:
    tok = CharTokenizer().fit(["bcb", "a ca"])
    # counts: a 2, b 2, c 2, ' ' 1 -> ties by code point: a < b < c
    assert tok.tokens_ == ["a", "b", "c", " "]
    assert tok.encode("cab ") == [6, 4, 5, 7]


def test_vocabulary_does_not_depend_on_text_order() -> None:
    texts = ["hello there", "general kenobi", "you are a bold one"]
    assert CharTokenizer().fit(texts).tokens_ == CharTokenizer().fit(texts[::-1]).tokens_


def test_rare_characters_map_to_unk_and_are_reported() -> None:
    tok = CharTokenizer(min_freq=2).fit(["aab", "aac"])  # b and c occur once
    assert tok.tokens_ == ["a"]
    assert tok.encode("abca") == [4, UNK, UNK, 4]
    assert tok.unknown_characters("abcab!") == ["b", "c", "!"]
    assert tok.unknown_characters("aaa") == []
    assert tok.tokens_of("ab") == ["a", "<unk>"]
    assert tok.decode(tok.encode("ab")) == "a<unk>"


def test_lowercase_applies_to_fit_and_encode() -> None:
    tok = CharTokenizer(lowercase=True).fit(["AbA"])
    assert tok.tokens_ == ["a", "b"]
    assert tok.encode("ABa") == [4, 5, 4] and tok.decode(tok.encode("ABa")) == "aba"


def test_encoding_never_yields_pad_cls_or_eos_even_for_their_names() -> None:
    tok = CharTokenizer().fit(["<pad><cls><eos>"])
    ids = tok.encode("<pad><eos>")
    assert not {PAD, CLS, EOS} & set(ids) and tok.decode(ids) == "<pad><eos>"


def test_encode_many_matches_encode_and_counts_truncated_texts() -> None:
    texts = ["short", "a much longer text here", "", "exactly8", "ninechars"]
    tok = CharTokenizer().fit(texts)
    ids, cut = tok.encode_many(texts, max_length=8)
    assert cut == 2  # the 23- and 9-character texts
    assert ids.lengths.tolist() == [5, 8, 0, 8, 8]
    assert [ids[i].tolist() for i in range(len(texts))] == [tok.encode(t)[:8] for t in texts]
    assert ids.values.dtype.is_floating_point is False and str(ids.values.dtype) == "torch.int64"
    whole, none_cut = tok.encode_many(texts, max_length=None)
    assert none_cut == 0 and whole.lengths.tolist() == [len(t) for t in texts]


def test_too_high_min_freq_is_an_error_naming_the_field() -> None:
    with pytest.raises(DataError, match=r"^data\.tokenizer\.min_freq: no character .* occurs 5 times"):
        CharTokenizer(min_freq=5).fit(["abc"])


def test_state_round_trip_keeps_unusual_characters() -> None:
    tok = CharTokenizer().fit(['\n\t"\\é🎭\u2028'])
    loaded = CharTokenizer.from_state(tok.state_dict())
    assert loaded.tokens_ == tok.tokens_ and loaded.encode("🎭\u2028x") == tok.encode("🎭\u2028x")


def test_encoding_a_shakespeare_sized_corpus_takes_well_under_a_second(shared_data: Path) -> None:
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    tok = CharTokenizer().fit([text])
    assert tok.vocab_size == 4 + 65  # 65 distinct characters
    start = time.perf_counter()
    ids, _ = tok.encode_many([text])
    seconds = time.perf_counter() - start
    assert len(ids.values) == 1_115_394 and seconds < 0.5
    assert tok.decode(ids.values[:14].tolist()) == "First Citizen:"
