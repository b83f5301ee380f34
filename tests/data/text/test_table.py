"""Tests of batchlab.data.text.table: reading a text column and a label column."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batchlab.config import DataConfig
from batchlab.data.text.table import read_text_table
from batchlab.errors import ConfigError, DataError


def _sms_config(path: Path, **extra: object) -> DataConfig:
    return DataConfig(
        source=str(path), header=False, columns=["label", "message"], text="message", target="label", **extra
    )


def test_sms_spam_collection_loads_with_plain_options(shared_data: Path) -> None:
    path = shared_data / "sms-spam" / "SMSSpamCollection"
    table = read_text_table(_sms_config(path))
    labels, counts = np.unique(table.labels, return_counts=True)
    assert len(table) == 5574 and dict(zip(labels.tolist(), counts.tolist(), strict=True)) == {"ham": 4827, "spam": 747}
    # every message is exactly the text after the first tab of its line, bare quotes included
    lines = path.read_text(encoding="utf-8").split("\n")
    expected = [line.split("\t", 1)[1] for line in lines if line]
    assert table.texts == expected
    quoted = [t for t in table.texts if '"' in t]
    assert len(quoted) == 145 and sum(t.count('"') % 2 for t in quoted) == 17  # 17 with an unpaired quote
    assert any(t.startswith("Height of Confidence") and 'He said:"if it is made' in t for t in quoted)
    assert table.rows.tolist() == list(range(1, 5575)) and table.text_column == "message"


def test_bare_quotes_in_a_tsv_are_ordinary_characters(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tsv"
    path.write_text('text\tlabel\nHe said "hi\tpos\n"Quoted" start and end "\tneg\nodd " quote\tpos\n')
    table = read_text_table(DataConfig(source=str(path), text="text"))
    assert table.texts == ['He said "hi', '"Quoted" start and end "', 'odd " quote']
    assert table.labels is not None and table.labels.tolist() == ["pos", "neg", "pos"]
    assert table.target_column == "label"  # the default: the column that is not the text


def test_tabs_inside_a_last_text_column_stay_in_the_text(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv"
    path.write_text("label\tmessage\nham\tcol one\tcol two\n")
    assert read_text_table(DataConfig(source=str(path), text="message")).texts == ["col one\tcol two"]


def test_csv_with_quoted_separators_and_sniffed_comma(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('id,review,stars\n1,"Great, really great",5\n2,"She said ""wow""",4\n3,plain,1\n')
    table = read_text_table(DataConfig(source=str(path), text="review", target="stars"))
    assert table.texts == ["Great, really great", 'She said "wow"', "plain"]
    assert table.labels is not None and table.labels.tolist() == ["5", "4", "1"]


def test_wrong_number_of_fields_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("message\tlabel\nfine\tham\nbroken\textra\tham\n")
    with pytest.raises(DataError, match=r"^data\.source: line 3 of file .* has 3 fields but the table has 2 columns"):
        read_text_table(DataConfig(source=str(path), text="message"))


def test_empty_texts_and_missing_labels_are_dropped_with_one_warning_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "data.tsv"
    rows = ["ham\thello", "spam\t   ", "ham\t", "\tno label", "NA\talso no label", "spam\tbuy now", "ham\tNA"]
    path.write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="batchlab.data.text.table"):
        table = read_text_table(_sms_config(path))
    assert table.texts == ["hello", "buy now"] and table.rows.tolist() == [1, 6]
    assert table.labels is not None and table.labels.tolist() == ["ham", "spam"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("3 of 7 rows of file") and "empty or missing text (column 'message')" in messages[0]
    assert messages[1].startswith("2 of 7 rows of file") and "missing label (column 'label')" in messages[1]


def test_missing_values_setting_keeps_texts_that_look_missing(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv"
    path.write_text("ham\tNA\nspam\t?\n")
    table = read_text_table(_sms_config(path, missing_values=[]))
    assert table.texts == ["NA", "?"]


def test_non_utf8_bytes_name_the_line_and_data_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.tsv"
    path.write_bytes(b"ham\tfine\nspam\tcaf\xe9 deal\n")
    with pytest.raises(DataError, match=r"byte 0xe9 at line 2 .*data\.encoding: latin-1$"):
        read_text_table(_sms_config(path))
    assert read_text_table(_sms_config(path, encoding="latin-1")).texts == ["fine", "café deal"]


def test_missing_text_column_names_it_and_lists_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("label,message\nham,hi\n")
    with pytest.raises(DataError) as raised:
        read_text_table(DataConfig(source=str(path), text="mesage"))
    assert str(raised.value).endswith(
        "column 'mesage' does not exist in file '" + str(path) + '\'; did you mean "message"? (columns: label, message)'
    )
    with pytest.raises(DataError, match="expected one of: label, message"):
        read_text_table(DataConfig(source=str(path), text="zzz"))


def test_text_column_cannot_be_the_label_column(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("label,message\nham,hi\n")
    with pytest.raises(ConfigError, match=r"^data\.target: 'message' is also data\.text"):
        read_text_table(DataConfig(source=str(path), text="message", target="message"))
    with pytest.raises(ConfigError, match=r"^data\.text: name the text column"):
        read_text_table(DataConfig(source=str(path)))


def test_prediction_input_without_the_label_column(tmp_path: Path) -> None:
    path = tmp_path / "new.txt"
    path.write_text("win a prize now\nsee you at 5\n")
    cfg = DataConfig(source="unused", header=False, columns=["label", "message"], text="message", target="label")
    table = read_text_table(cfg, str(path), require_target=False)
    assert table.texts == ["win a prize now", "see you at 5"] and table.labels is None and table.target_column is None
    with pytest.raises(DataError, match=r"^data\.columns: names 2 columns but file .* has 1"):
        read_text_table(cfg, str(path), require_target=True)


def test_json_lines_and_json_array(tmp_path: Path) -> None:
    records = [{"text": "good film", "label": 1}, {"text": "bad film", "label": 0}, {"text": None, "label": 1}]
    lines = tmp_path / "reviews.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    array = tmp_path / "reviews.json"
    array.write_text(json.dumps(records))
    for path in (lines, array):
        table = read_text_table(DataConfig(source=str(path), text="text"))
        assert table.texts == ["good film", "bad film"] and table.labels is not None
        assert table.labels.tolist() == ["1", "0"] and table.rows.tolist() == [1, 2]
    lines.write_text('{"text": "ok", "label": 1}\n{"text": broken}\n')
    with pytest.raises(DataError, match=r"line 2 of file .* is not valid JSON"):
        read_text_table(DataConfig(source=str(lines), text="text"))


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "reviews.parquet"
    pd.DataFrame({"body": ["fine", "awful", ""], "score": [4.0, 1.0, 3.0], "id": [7, 8, 9]}).to_parquet(path)
    table = read_text_table(DataConfig(source=str(path), text="body", target="score"))
    assert table.texts == ["fine", "awful"] and table.labels is not None and table.labels.tolist() == ["4", "1"]


def test_take_keeps_rows_and_labels_together(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv"
    path.write_text("a\tone\nb\ttwo\nc\tthree\n")
    table = read_text_table(_sms_config(path)).take(np.array([2, 0]))
    assert table.texts == ["three", "one"] and table.labels is not None and table.labels.tolist() == ["c", "a"]
    assert table.rows.tolist() == [3, 1]


def test_prediction_input_keeps_rows_whatever_their_label(tmp_path: Path) -> None:
    path = tmp_path / "new.tsv"
    path.write_text("ham\tfirst\n\tsecond\nNA\tthird\n")
    table = read_text_table(_sms_config(path), str(path), require_target=False)
    assert table.texts == ["first", "second", "third"] and table.labels is None


def test_prediction_texts_holding_commas_are_one_column_of_a_headerless_table(tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    texts = ["Sorry, I'll call later", "WINNER!! Claim your prize, call now, or text back", "see you", "ok, ok"]
    path.write_text("\n".join(texts) + "\n")  # the first line splits at its comma into two fields, the next not
    table = read_text_table(_sms_config(path), str(path), require_target=False)
    assert table.texts == texts
    # with the label column as well, the comma does not split the texts either: the tab does
    labelled = tmp_path / "labelled.txt"
    labelled.write_text("ham\tSorry, I'll call later, ok\nspam\tWINNER!! Claim, call now\n")
    assert read_text_table(_sms_config(labelled)).texts == ["Sorry, I'll call later, ok", "WINNER!! Claim, call now"]


def test_a_short_prediction_file_counts_its_last_line_when_choosing_the_separator(tmp_path: Path) -> None:
    # Two lines: the first holds a comma, the second none. The last sampled line used to be left out
    # (it may continue a quoted text), so the comma "fitted" and the second line was an error.
    path = tmp_path / "texts.txt"
    path.write_text("WINNER!! Claim your prize now, call 0906\nsee you at lunch?\n")
    table = read_text_table(_sms_config(path), str(path), require_target=False)
    assert table.texts == ["WINNER!! Claim your prize now, call 0906", "see you at lunch?"]


def test_prediction_input_holds_a_label_column_only_where_the_training_classes_are(tmp_path: Path) -> None:
    one = tmp_path / "one.txt"
    one.write_text("Sorry, I'll call later\n")  # one text, one comma: not the label "Sorry" and a text
    assert read_text_table(_sms_config(one), str(one), require_target=False, classes=["ham", "spam"]).texts == [
        "Sorry, I'll call later"
    ]
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("spam,WINNER call now\nham,see you\n")  # the classes in the label's place
    table = read_text_table(_sms_config(labelled), str(labelled), require_target=False, classes=["ham", "spam"])
    assert table.texts == ["WINNER call now", "see you"]
    numeric = tmp_path / "numeric.csv"
    numeric.write_text("1.0,great film\n0,dull, long\n")  # numbers name the classes "0" and "1" however written
    cfg = DataConfig(source=str(numeric), header=False, columns=["label", "review"], text="review", target="label")
    with pytest.raises(DataError, match="line 2"):  # a label column: the unquoted comma of line 2 is a mistake
        read_text_table(cfg, str(numeric), require_target=False, classes=["0", "1"])


def test_json_and_parquet_keep_their_own_column_names_under_data_columns(tmp_path: Path) -> None:
    # data.columns names a header-less file's columns; it used to rename a JSON object's keys by position,
    # so the label became the text of every row.
    lines = tmp_path / "new.jsonl"
    lines.write_text('{"message": "WIN cash now", "label": "spam"}\n{"message": "see you", "label": "ham"}\n')
    parquet = tmp_path / "new.parquet"
    pd.DataFrame({"message": ["WIN cash now", "see you"], "label": ["spam", "ham"]}).to_parquet(parquet)
    for path in (lines, parquet):
        table = read_text_table(
            _sms_config(tmp_path / "train.tsv"), str(path)
        )  # evaluate --data: columns in another order
        assert table.texts == ["WIN cash now", "see you"]
        assert table.labels is not None and table.labels.tolist() == ["spam", "ham"]
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "hi", "id": "7"}\n')
    with pytest.raises(DataError, match="column 'message' does not exist"):
        read_text_table(_sms_config(other), str(other), require_target=False)
    with pytest.raises(DataError, match="data.columns: names the columns of a header-less delimited file"):
        read_text_table(_sms_config(lines))  # as the training data, data.columns would be ignored: an error


def test_a_headerless_csv_with_quoted_commas_keeps_its_comma_separator(tmp_path: Path) -> None:
    path = tmp_path / "sms.csv"
    path.write_text('ham,"Sorry, I\'ll call later"\nspam,"WINNER, call now"\n')
    table = read_text_table(_sms_config(path))
    assert table.texts == ["Sorry, I'll call later", "WINNER, call now"]
    assert table.labels is not None and table.labels.tolist() == ["ham", "spam"]


@pytest.mark.parametrize(
    ("content", "require_target"),
    [("label\tmessage\nham\thi there\n", True), ("message\nhi there\n", False)],
)
def test_a_header_line_in_a_headerless_format_is_read_as_data_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str, require_target: bool
) -> None:
    path = tmp_path / "input.tsv"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="batchlab.data.text.table"):
        table = read_text_table(_sms_config(path), str(path), require_target=require_target)
    assert table.texts[0] == "message"  # still data: a text may be the word itself
    warnings = [r.getMessage() for r in caplog.records if "repeats the column names" in r.getMessage()]
    assert len(warnings) == 1 and f"file '{path}'" in warnings[0]


def test_a_first_line_that_is_not_the_column_names_gives_no_header_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "input.tsv"
    path.write_text("ham\tmessage received\nspam\twin\n")
    with caplog.at_level(logging.WARNING, logger="batchlab.data.text.table"):
        read_text_table(_sms_config(path))
    assert not [r for r in caplog.records if "repeats the column names" in r.getMessage()]
