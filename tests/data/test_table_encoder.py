"""A categorical column with too many distinct values: a warning above 100, an error above
``data.max_categories`` (default 1,000), each naming the column and pointing to ``data.text`` for free text."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from batchlab.config import DataConfig
from batchlab.data.preprocess import Preprocessor
from batchlab.data.sources import RawTable
from batchlab.data.table_encoder import MANY_CATEGORIES, TableEncoder
from batchlab.errors import DataError

_WORDS = ["free", "call", "now", "see", "you", "at", "home", "later", "win", "cash", "prize", "text", "me"]


def _messages(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct short messages of three to six words."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(_WORDS, rng.integers(3, 7))) + f" {i}" for i in range(n)]


def test_free_text_above_the_limit_is_an_error_that_points_to_text_classification() -> None:
    frame = pd.DataFrame({"message": _messages(1500), "length": np.arange(1500.0)})
    with pytest.raises(DataError) as caught:
        TableEncoder().fit(frame)
    message = str(caught.value)
    assert message.startswith("data: column 'message' has 1,500 distinct values in the training split")
    assert "more than data.max_categories (1,000)" in message
    assert "free text (100% of its values have several words)" in message
    assert "set data.text: message" in message and "raise data.max_categories" in message


def test_an_id_column_above_the_limit_is_told_to_be_dropped() -> None:
    frame = pd.DataFrame({"customer": [f"C{i:05d}" for i in range(300)], "age": np.arange(300.0)})
    with pytest.raises(DataError, match=r"column 'customer' has 300 distinct .* \(200\)") as caught:
        TableEncoder(max_categories=200).fit(frame)
    assert "if it is an id, add it to data.drop" in str(caught.value)
    assert "free text" not in str(caught.value)


def test_between_the_warning_and_the_limit_the_column_is_encoded_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frame = pd.DataFrame({"message": _messages(MANY_CATEGORIES + 20)})
    with caplog.at_level(logging.WARNING, logger="batchlab.data.table_encoder"):
        encoder = TableEncoder().fit(frame)
    assert len(encoder.feature_names_) == MANY_CATEGORIES + 20
    (record,) = caplog.records
    assert "column 'message' has 120 categories, one feature each (more than 100)" in record.getMessage()
    assert "set data.text: message" in record.getMessage()


def test_up_to_100_categories_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"city": [f"city {i % MANY_CATEGORIES}" for i in range(400)]})
    with caplog.at_level(logging.WARNING, logger="batchlab.data.table_encoder"):
        encoder = TableEncoder().fit(frame)
    assert len(encoder.feature_names_) == MANY_CATEGORIES and not caplog.records


def test_data_max_categories_reaches_the_encoder_and_its_state() -> None:
    raw = RawTable(pd.DataFrame({"code": [f"K{i}" for i in range(50)], "y": [i % 2 for i in range(50)]}), "y")
    with pytest.raises(DataError, match=r"more than data.max_categories \(20\)"):
        Preprocessor.from_config(DataConfig(max_categories=20)).fit(raw)
    pre = Preprocessor.from_config(DataConfig(max_categories=50)).fit(raw)
    assert pre.input_shape_ == (50,)
    assert Preprocessor.from_state(pre.state_dict()).max_categories == 50


def test_the_sms_collection_without_data_text_stops_before_writing_anything(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchlab.cli import app

    monkeypatch.chdir(tmp_path)
    source = shared_data / "sms-spam" / "SMSSpamCollection"
    (tmp_path / "sms.yaml").write_text(
        f"data: {{source: '{source}', header: false, columns: [label, message], sep: '\\t', target: label}}\n"
    )
    done = CliRunner().invoke(app, ["train", "sms.yaml", "--run-dir", "run", "-q"])
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batchlab: error: data: column 'message' has ")
    assert "set data.text: message" in lines[0]
    assert not (tmp_path / "run").exists()
