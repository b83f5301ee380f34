"""Tests of batchlab.data.text.word: the word tokenizer."""

from __future__ import annotations

import pytest

from batchlab.data.text.tokenizer import UNK
from batchlab.data.text.word import WORD_PATTERN, WordTokenizer
from batchlab.errors import ConfigError


def test_pattern_keeps_words_with_inner_apostrophes_and_splits_punctuation() -> None:
    text = "Don't stop, it's 5 o'clock! £1.50 🎉 snake_case 'quoted'"
    assert WORD_PATTERN.findall(text) == [
        "Don't", "stop", ",", "it's", "5", "o'clock", "!", "£", "1", ".", "50", "🎉", "snake_case", "'", "quoted", "'",
    ]  # fmt: skip


def test_vocabulary_keeps_the_most_frequent_tokens_up_to_the_cap() -> None:
    texts = ["the cat and the dog", "the cat sat", "a dog"]
    tok = WordTokenizer(vocab_size=7).fit(texts)
    # counts: the 3, cat 2, dog 2, a 1, and 1, sat 1 -> 3 regular tokens, ties alphabetical
    assert tok.tokens_ == ["the", "cat", "dog"] and tok.vocab_size == 7
    assert tok.encode("the dog sat") == [4, 6, UNK]
    assert tok.unknown_characters("the dog sat and sat") == ["sat", "and"]


def test_min_freq_drops_rare_words() -> None:
    tok = WordTokenizer(min_freq=2).fit(["x y y z z z"])
    assert tok.tokens_ == ["z", "y"]


def test_lowercase_merges_cases() -> None:
    assert WordTokenizer(lowercase=True).fit(["The THE the"]).tokens_ == ["the"]
    assert WordTokenizer().fit(["The THE the"]).tokens_ == ["THE", "The", "the"]


def test_decode_joins_tokens_with_spaces_and_is_lossy() -> None:
    tok = WordTokenizer(lowercase=True).fit(["Hi, you!"])
    assert tok.decode(tok.encode("Hi, you!")) == "hi , you !"
    assert tok.decode(tok.encode("Hi, Bob!")) == "hi , <unk> !"
    assert tok.tokens_of("Hi Bob") == ["hi", "<unk>"]


def test_same_texts_give_the_same_ids() -> None:
    texts = [f"word{i % 7} other{i % 3} shared" for i in range(50)]
    first, second = WordTokenizer(vocab_size=10).fit(texts), WordTokenizer(vocab_size=10).fit(texts[::-1])
    assert first.tokens_ == second.tokens_
    assert first.encode(" ".join(texts)) == second.encode(" ".join(texts))


def test_encode_many_counts_truncated_texts() -> None:
    tok = WordTokenizer().fit(["a b c d", "a b"])
    ids, cut = tok.encode_many(["a b c d", "a b", "c"], max_length=3)
    assert cut == 1 and ids.lengths.tolist() == [3, 2, 1] and ids.values.tolist() == [4, 5, 6, 4, 5, 6]


def test_vocabulary_of_only_special_tokens_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"^data\.tokenizer\.vocab_size: 4 leaves no room .* at least 5$"):
        WordTokenizer(vocab_size=4)
