"""Tests of batchlab.data.text.preprocessors: TextPreprocessor and CorpusPreprocessor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from batchlab.config import TokenizerConfig
from batchlab.data.preprocess import Preprocessor
from batchlab.data.text.preprocessors import (
    CorpusPreprocessor,
    TextPreprocessor,
    label_series,
    text_preprocessor_from_state,
)
from batchlab.data.text.tokenizer import UNK
from batchlab.errors import CheckpointError, ConfigError, DataError
from batchlab.inputs import InputSpec

TEXTS = ["free prize now", "see you soon", "win cash", "call me later", "are you home?", "free entry"]
LABELS = np.array(["spam", "ham", "spam", "ham", "ham", "spam"])


def _json(state: dict[str, object]) -> dict[str, object]:
    return json.loads(json.dumps(state))  # type: ignore[no-any-return]


def test_fit_learns_sorted_classes_and_the_tokenizer_on_the_given_texts() -> None:
    pre = TextPreprocessor(tokenizer=TokenizerConfig(kind="word")).fit(
        TEXTS, LABELS, text_column="message", target_column="label"
    )
    assert pre.task_ == "classification" and pre.classes_ == ["ham", "spam"]
    assert pre.tokenizer_.tokens_ == ["free", "you", "?", "are", "call", "cash", "entry", "home", "later", "me",  # type: ignore[attr-defined]
                                      "now", "prize", "see", "soon", "win"]  # fmt: skip
    assert (pre.text_column_, pre.target_column_) == ("message", "label")


def test_transform_gives_ids_labels_and_the_truncated_count() -> None:
    pre = TextPreprocessor(tokenizer=TokenizerConfig(kind="word"), max_length=2).fit(TEXTS, LABELS)
    assert pre.max_length_ == 2  # the longest training text has 3 tokens
    x, y, cut = pre.transform(["free cash now", "unknown words here", "free"], np.array(["spam", "ham", "spam"]))
    assert cut == 2 and x.lengths.tolist() == [2, 2, 1]
    assert x.values.tolist() == [4, pre.tokenizer_.encode("cash")[0], UNK, UNK, 4]
    assert y is not None and y.dtype == torch.int64 and y.tolist() == [1, 0, 1]
    x_only, none, _ = pre.transform(["free"])
    assert none is None and x_only.values.tolist() == [4]


def test_max_length_is_the_longest_training_text_at_most_the_setting() -> None:
    pre = TextPreprocessor(max_length=100).fit(TEXTS, LABELS)
    assert pre.max_length_ == len("free prize now") == 14
    x, _, cut = pre.transform(["a" * 20, "b" * 14])
    assert cut == 1 and x.lengths.tolist() == [14, 14]  # held-out texts never exceed what training saw
    assert TextPreprocessor(max_length=None).fit(TEXTS, LABELS).max_length_ == 14


def test_input_spec_describes_padded_token_sequences() -> None:
    pre = TextPreprocessor(max_length=5).fit(TEXTS, LABELS)
    assert pre.input_spec_ == InputSpec(
        "tokens", (), vocab_size=pre.tokenizer_.vocab_size, pad_id=0, cls_id=2, max_length=5, variable_length=True
    )


def test_numeric_labels_sort_numerically() -> None:
    pre = TextPreprocessor().fit(["a", "b", "c", "d"], np.array(["10", "9", "2", "10"]))
    assert pre.classes_ == ["2", "9", "10"]
    _, y, _ = pre.transform(["a", "b"], np.array(["10", "2"]))
    assert y is not None and y.tolist() == [2, 0]
    assert label_series(["1.0", "2"]).tolist() == [1.0, 2.0]


def test_regression_labels_are_scaled_and_restored() -> None:
    values = np.array(["1.5", "2.5", "3.5", "4.5"])
    pre = TextPreprocessor(task="regression").fit(["a", "bb", "ccc", "dddd"], values)
    assert pre.task_ == "regression" and pre.classes_ is None
    _, y, _ = pre.transform(["a"], np.array(["4.5"]))
    assert y is not None and y.dtype == torch.float32
    assert pre.target_mean_ == pytest.approx(3.0)
    assert pre.inverse_target(y).item() == pytest.approx(4.5)


def test_one_class_and_unseen_classes_are_errors() -> None:
    with pytest.raises(DataError, match=r"^data\.target: column 'label' has a single class 'ham'"):
        TextPreprocessor().fit(["a", "b"], np.array(["ham", "ham"]), target_column="label")
    pre = TextPreprocessor().fit(TEXTS, LABELS, target_column="label")
    with pytest.raises(DataError, match=r"holds 'promo' \(row 7\), a class not seen in training"):
        pre.transform(["x", "y"], np.array(["ham", "promo"]), rows=np.array([3, 7]))


def test_language_model_task_is_rejected_for_a_table() -> None:
    with pytest.raises(ConfigError, match=r"^data\.task: language_model needs a \.txt corpus"):
        TextPreprocessor(task="language_model").fit(TEXTS, LABELS)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_state_round_trip_gives_identical_outputs(kind: str) -> None:
    if kind == "bpe":
        pytest.importorskip("tokenizers")
    cfg = TokenizerConfig(kind=kind, vocab_size=300)  # type: ignore[arg-type]
    pre = TextPreprocessor(tokenizer=cfg, max_length=8).fit(TEXTS, LABELS, target_column="label")
    state = _json(pre.state_dict())
    assert state["kind"] == "text"
    loaded = text_preprocessor_from_state(state)
    assert isinstance(loaded, TextPreprocessor) and loaded.state_dict() == pre.state_dict()
    probe = ["free money", "see you at home now please"]
    (x1, y1, c1), (x2, y2, c2) = pre.transform(probe, LABELS[:2]), loaded.transform(probe, LABELS[:2])
    assert torch.equal(x1.values, x2.values) and torch.equal(x1.offsets, x2.offsets) and c1 == c2
    assert y1 is not None and y2 is not None and torch.equal(y1, y2)
    assert loaded.input_spec_ == pre.input_spec_ and loaded.classes_ == ["ham", "spam"]


def test_corpus_preprocessor_encodes_the_whole_text_in_order() -> None:
    text = "To be, or not to be:\nthat is the question.\n"
    pre = CorpusPreprocessor(context=8).fit(text)
    ids = pre.transform(text)
    assert ids.dtype == torch.int64 and ids.tolist() == pre.tokenizer_.encode(text)
    assert pre.tokenizer_.decode(ids.tolist()) == text
    assert pre.task_ == "language_model" and pre.classes_ is None
    assert pre.input_spec_ == InputSpec(
        "tokens", (), vocab_size=pre.tokenizer_.vocab_size, pad_id=0, max_length=8, variable_length=False
    )


def test_corpus_word_ids_match_encoding_the_whole_text() -> None:
    text = "Alas, poor Yorick!\nI knew him,\n\nHoratio: a fellow\n"
    pre = CorpusPreprocessor(tokenizer=TokenizerConfig(kind="word")).fit(text)
    assert pre.transform(text).tolist() == pre.tokenizer_.encode(text)


def test_corpus_state_round_trip() -> None:
    pre = CorpusPreprocessor(tokenizer=TokenizerConfig(kind="char", lowercase=True), context=16).fit("Hello World")
    state = _json(pre.state_dict())
    loaded = text_preprocessor_from_state(state)
    assert state["kind"] == "corpus" and isinstance(loaded, CorpusPreprocessor) and loaded.context == 16
    assert loaded.transform("HELLO there").tolist() == pre.transform("HELLO there").tolist()


def test_states_of_other_kinds_are_checkpoint_errors() -> None:
    with pytest.raises(CheckpointError, match="kind None; expected 'text' or 'corpus'"):
        text_preprocessor_from_state({"format": "batchlab.preprocessor/1"})
    text_state = TextPreprocessor().fit(TEXTS, LABELS).state_dict()
    with pytest.raises(CheckpointError, match="expected 'batchlab.preprocessor/1'"):
        Preprocessor.from_state(text_state)  # a table preprocessor refuses a text state by its format
    broken = {**text_state, "tokenizer": {"kind": "char"}}
    with pytest.raises(CheckpointError, match="tokenizer state is incomplete"):
        text_preprocessor_from_state(broken)
