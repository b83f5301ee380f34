"""Tests of batchlab.data.text.prepare: prepared splits of text tables and corpora, and inference input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from batchlab.config import DataConfig, TokenizerConfig
from batchlab.data.prepared import SequenceSplit, TokenStream
from batchlab.data.split import split_indices
from batchlab.data.text.prepare import (
    load_corpus_for_evaluation,
    load_text_for_inference,
    prepare_corpus,
    prepare_text,
)
from batchlab.data.text.preprocessors import CorpusPreprocessor, TextPreprocessor, text_preprocessor_from_state
from batchlab.data.text.tokenizer import UNK
from batchlab.errors import ConfigError, DataError


@pytest.fixture
def messages(tmp_path: Path) -> Path:
    """A header-less TSV of 48 labelled messages: 36 ham (at most 21 characters), 12 longer spam."""
    lines = []
    for i in range(48):
        if i % 4 == 3:
            lines.append(f'spam\tWIN "cash" prize {i}! ' + "call now " * 5)
        else:
            lines.append(f"ham\tsee you at {i % 12} o'clock")
    path = tmp_path / "messages"
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(path: Path, **extra: object) -> DataConfig:
    return DataConfig(
        source=str(path), header=False, columns=["label", "message"], text="message", target="label", **extra
    )


def _restored(preprocessor: object) -> TextPreprocessor | CorpusPreprocessor:
    return text_preprocessor_from_state(json.loads(json.dumps(preprocessor.state_dict())))  # type: ignore[attr-defined]


def test_text_table_is_split_stratified_into_token_sequences(messages: Path) -> None:
    cfg = _config(messages, split={"val": 0.25, "test": 0.25, "seed": 3})
    data = prepare_text(cfg)
    assert data.task == "classification" and data.classes == ["ham", "spam"] and data.num_outputs == 1
    assert isinstance(data.train, SequenceSplit) and isinstance(data.val, SequenceSplit)
    assert (len(data.train), len(data.val), len(data.test)) == (24, 12, 12)
    for part in (data.train, data.val, data.test):
        assert part.x.values.dtype == torch.int64 and part.y.dtype == torch.int64
        assert int(part.y.sum()) == len(part) // 4  # a quarter spam in every split
    # the rows are those of split_indices, in order, and the ids are the tokenizer's
    labels = np.array(["spam" if i % 4 == 3 else "ham" for i in range(48)])
    train_rows, _, _ = split_indices(48, val=0.25, test=0.25, seed=3, stratify_labels=labels)
    texts = messages.read_text().split("\n")
    first = texts[int(train_rows[0])].split("\t", 1)[1]
    assert data.train.x[0].tolist() == data.preprocessor.tokenizer_.encode(first)  # type: ignore[attr-defined]
    spec = data.input_spec
    assert spec.kind == "tokens" and spec.variable_length and spec.pad_id == 0 and spec.cls_id == 2
    assert spec.max_length == max(int(data.train.x.lengths.max()), 1)


def test_texts_are_cut_to_max_length_and_the_counts_logged(messages: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="batchlab.data.text.prepare"):
        data = prepare_text(_config(messages, max_length=22, split={"val": 0.25, "test": 0.25}))
    assert data.input_spec.max_length == 22
    assert int(data.train.x.lengths.max()) == 22
    spam = [int((part.y == 1).sum()) for part in (data.train, data.val, data.test)]
    (message,) = [r.getMessage() for r in caplog.records if "cut to" in r.getMessage()]
    assert message == (
        f"texts cut to 22 tokens (data.max_length=22): training {spam[0]} of 24, "
        f"validation {spam[1]} of 12, test {spam[2]} of 12"
    )  # every spam message is longer than 22 characters, no ham message is
    assert spam == [6, 3, 3]


def test_tokenizer_is_fit_on_training_texts_only(messages: Path, tmp_path: Path) -> None:
    extra = tmp_path / "val.tsv"
    extra.write_text("ham\tΩmega ∑ see you\nspam\tWIN now\n")
    data = prepare_text(_config(messages, split={"val": 0.0, "test": 0.2, "val_source": str(extra)}))
    assert (len(data.train), len(data.val), len(data.test)) == (38, 2, 10)
    assert data.val.x[0][:2].tolist() == [UNK, UNK]  # characters seen only in the validation file
    assert data.val.y.tolist() == [0, 1]


def test_saved_preprocessor_rebuilds_the_same_splits(messages: Path) -> None:
    cfg = _config(messages, tokenizer={"kind": "word"})
    data = prepare_text(cfg)
    again = prepare_text(cfg, _restored(data.preprocessor))  # type: ignore[arg-type]
    for first, second in ((data.train, again.train), (data.val, again.val), (data.test, again.test)):
        assert torch.equal(first.x.values, second.x.values) and torch.equal(first.x.offsets, second.x.offsets)
        assert torch.equal(first.y, second.y)


def test_language_model_task_with_a_text_column_is_a_config_error(messages: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.task: language_model needs a \.txt corpus"):
        prepare_text(_config(messages, task="language_model"))


def test_single_class_table_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "ham.tsv"
    path.write_text("".join(f"ham\tmessage {i}\n" for i in range(10)))
    with pytest.raises(DataError) as raised:
        prepare_text(_config(path))
    assert str(raised.value) == (
        f"data.target: column 'label' of file '{path}' has only one class 'ham' (10 rows); "
        "classification needs at least 2"
    )


def test_sms_spam_is_prepared_with_stratified_splits(shared_data: Path) -> None:
    data = prepare_text(_config(shared_data / "sms-spam" / "SMSSpamCollection"))
    assert (len(data.train), len(data.val), len(data.test)) == (3902, 836, 836)
    assert data.classes == ["ham", "spam"]
    spam = [int(part.y.sum()) for part in (data.train, data.val, data.test)]
    sizes = (3902, 836, 836)
    assert sum(spam) == 747 and all(abs(s / n - 747 / 5574) < 0.005 for s, n in zip(spam, sizes, strict=True))
    assert data.input_spec.max_length == 256 and data.input_spec.vocab_size == 4 + len(
        data.preprocessor.tokenizer_.tokens_  # type: ignore[attr-defined]
    )


def test_inference_input_uses_the_saved_columns_and_tokenizer(messages: Path, tmp_path: Path) -> None:
    data = prepare_text(_config(messages))
    saved = _restored(data.preprocessor)
    assert isinstance(saved, TextPreprocessor)
    unlabelled = tmp_path / "new.txt"
    unlabelled.write_text("see you at 5 o'clock\n\n   \nWIN cash now\n")
    cfg = _config(messages)
    inputs = load_text_for_inference(cfg, saved, str(unlabelled), require_target=False)
    assert inputs.y is None and inputs.ids == ("1", "2")  # the blank line is not a row; the blank text is dropped
    expected, _, _ = saved.transform(["see you at 5 o'clock", "WIN cash now"])
    assert torch.equal(inputs.x.values, expected.values) and torch.equal(inputs.x.offsets, expected.offsets)

    one = tmp_path / "one.txt"
    one.write_text("Sorry, I'll call later\n")  # not the label "Sorry": the run's classes are ham and spam
    expected, _, _ = saved.transform(["Sorry, I'll call later"])
    assert torch.equal(load_text_for_inference(cfg, saved, str(one), require_target=False).x.values, expected.values)

    labelled = tmp_path / "labelled.tsv"
    labelled.write_text("spam\tWIN cash\nham\tsee you\n")
    evaluated = load_text_for_inference(cfg, saved, str(labelled), require_target=True)
    assert evaluated.y is not None and evaluated.y.tolist() == [1, 0]
    labelled.write_text("promo\tWIN cash\n")
    with pytest.raises(DataError, match="'promo' \\(row 1\\), a class not seen in training"):
        load_text_for_inference(cfg, saved, str(labelled), require_target=True)


# ------------------------------------------------------------------------------------------ corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "play.txt"
    lines = [f"LINE {i}: {'to be or not to be ' * (1 + i % 3)}" for i in range(60)]
    path.write_text("\n".join(lines) + "\nÉpilogue ∑\n")
    return path


def test_corpus_sections_are_contiguous_token_streams(corpus: Path) -> None:
    text = corpus.read_text()
    data = prepare_corpus(DataConfig(source=str(corpus), context=16, split={"val": 0.1, "test": 0.1}))
    assert data.task == "language_model" and data.classes is None
    assert (
        isinstance(data.train, TokenStream)
        and isinstance(data.val, TokenStream)
        and data.train.ids.dtype == torch.int64
    )
    n_val = n_test = round(0.1 * len(text))
    n_train = len(text) - n_val - n_test
    tok = data.preprocessor.tokenizer_  # type: ignore[attr-defined]
    assert tok.decode(data.train.ids.tolist()) == text[:n_train]
    assert tok.decode(data.val.ids.tolist()) == text[n_train : n_train + n_val]  # right after the training text
    assert len(data.test) == n_test
    assert UNK in data.test.ids.tolist() and "É" not in tok.tokens_  # fit on the training head only
    assert data.input_spec.max_length == 16 and not data.input_spec.variable_length
    assert data.num_outputs == tok.vocab_size


def test_corpus_without_validation_fraction_has_no_validation_stream(corpus: Path) -> None:
    data = prepare_corpus(DataConfig(source=str(corpus), context=8, split={"val": 0.0, "test": 0.0}))
    assert data.val is None and data.test is None and len(data.train) == len(corpus.read_text())


def test_too_short_sections_name_data_context(corpus: Path) -> None:
    with pytest.raises(DataError) as raised:
        prepare_corpus(DataConfig(source=str(corpus), context=64, split={"val": 0.02, "test": 0.0}))
    n_val = round(0.02 * len(corpus.read_text()))
    assert str(raised.value).startswith(
        f"data.context: the validation section has {n_val} tokens, fewer than one window of data.context=64 + 1"
    )


def test_saved_corpus_preprocessor_rebuilds_the_same_streams(corpus: Path) -> None:
    cfg = DataConfig(source=str(corpus), context=8, tokenizer=TokenizerConfig(kind="word"))
    data = prepare_corpus(cfg)
    again = prepare_corpus(cfg, _restored(data.preprocessor))  # type: ignore[arg-type]
    assert torch.equal(data.train.ids, again.train.ids) and torch.equal(data.test.ids, again.test.ids)


def test_corpus_for_evaluation_is_one_stream(corpus: Path, tmp_path: Path) -> None:
    data = prepare_corpus(DataConfig(source=str(corpus), context=8))
    other = tmp_path / "other.txt"
    other.write_text("not to be to be\n")
    stream = load_corpus_for_evaluation(DataConfig(), data.preprocessor, str(other))  # type: ignore[arg-type]
    assert data.preprocessor.tokenizer_.decode(stream.ids.tolist()) == "not to be to be\n"  # type: ignore[attr-defined]
    other.write_text("to be\n")
    with pytest.raises(DataError, match=r"^input: '.*other\.txt' has 6 tokens, fewer than one window"):
        load_corpus_for_evaluation(DataConfig(), data.preprocessor, str(other))  # type: ignore[arg-type]


def test_tiny_shakespeare_char_corpus(shared_data: Path) -> None:
    data = prepare_corpus(
        DataConfig(source=str(shared_data / "tinyshakespeare" / "input.txt"), split={"val": 0.1, "test": 0.0})
    )
    assert (len(data.train), len(data.val)) == (1_003_855, 111_539) and data.test is None
    assert data.input_spec.vocab_size == 4 + 65 and data.input_spec.max_length == 128


def test_options_text_does_not_support_are_refused(messages: Path, corpus: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.stream\.enabled: text tables are read into memory"):
        prepare_text(_config(messages, stream={"enabled": True}))
    with pytest.raises(ConfigError, match=r"^data\.split\.by_group: group splits are not supported for corpora"):
        prepare_corpus(DataConfig(source=str(corpus), split={"by_group": True}))
