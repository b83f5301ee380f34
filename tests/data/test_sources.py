"""Tests of batchlab.data.sources: built-ins, CSV, Parquet, NumPy files and the loading errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batchlab.config import DataConfig
from batchlab.data.sources import BUILTIN_DATASETS, RawArrays, RawTable, builtin_names, load_source
from batchlab.data.tabular import sniff_separator
from batchlab.errors import DataError


def _table(cfg: DataConfig, source: str | None = None, *, require_target: bool = True) -> RawTable:
    raw = load_source(cfg, source, require_target=require_target)
    assert isinstance(raw, RawTable)
    return raw


def _arrays(cfg: DataConfig, source: str | None = None, *, require_target: bool = True) -> RawArrays:
    raw = load_source(cfg, source, require_target=require_target)
    assert isinstance(raw, RawArrays)
    return raw


# ----------------------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize("name", sorted(BUILTIN_DATASETS))
def test_builtin_matches_its_registry_entry(name: str) -> None:
    info = BUILTIN_DATASETS[name]
    raw = load_source(DataConfig(source=name))
    assert len(raw) == info.rows
    if info.kind == "images":
        assert isinstance(raw, RawArrays) and raw.image
        assert int(np.prod(raw.x.shape[1:])) == info.features
    else:
        assert isinstance(raw, RawTable) and raw.target == "target"
        assert raw.frame.shape[1] - 1 == info.features


def test_builtin_names_are_sorted_registry_keys() -> None:
    assert builtin_names() == sorted(BUILTIN_DATASETS) and "iris" in builtin_names()


def test_iris_target_holds_species_names() -> None:
    raw = _table(DataConfig(source="iris"))
    assert sorted(raw.frame["target"].unique()) == ["setosa", "versicolor", "virginica"]


def test_digits_are_one_channel_8x8_images_with_pixel_counts_0_to_16() -> None:
    raw = _arrays(DataConfig(source="digits"))
    assert raw.x.shape == (1797, 1, 8, 8) and raw.image
    assert raw.x.min() == 0 and raw.x.max() == 16
    assert raw.y is not None and raw.y.dtype == np.int64 and set(raw.y.tolist()) == set(range(10))


def test_diabetes_target_is_a_float_column() -> None:
    raw = _table(DataConfig(source="diabetes"))
    assert raw.frame["target"].dtype == np.float64


def test_unknown_builtin_name_suggests_the_nearest() -> None:
    with pytest.raises(DataError, match=r'data\.source: \'irsi\' is neither .* did you mean "iris"'):
        load_source(DataConfig(source="irsi"))


def test_unknown_name_far_from_all_lists_the_builtins() -> None:
    with pytest.raises(DataError, match="expected one of: breast_cancer, diabetes, digits, iris, wine"):
        load_source(DataConfig(source="zzzzzz"))


def test_missing_file_names_field_and_path() -> None:
    with pytest.raises(DataError, match=r"^data\.source: file 'nope/x\.csv' does not exist$"):
        load_source(DataConfig(source="nope/x.csv"))


def test_override_source_is_named_as_input() -> None:
    with pytest.raises(DataError, match=r"^input: file 'gone\.csv' does not exist$"):
        load_source(DataConfig(source="iris"), "gone.csv")


# ----------------------------------------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (["a,b,c", "1,2,3"], ","),
        (["a;b;c", "1,5;2,5;3"], ";"),
        (["a\tb", "1\t2"], "\t"),
        (["a|b", "1|2"], "|"),
        (["39, State-gov, 77516", "50, Private, 83311"], ","),
        (['"x, y";z', '"1, 2";3'], ";"),
        (["1 2  3", "4 5 6"], r"\s+"),
        (["only", "one"], ","),
        (["|1x3 Cross validator"] + ["25, Private, 226802"] * 12, ","),
    ],
)
def test_sniff_separator(text: list[str], expected: str) -> None:
    assert sniff_separator(text) == expected


@pytest.mark.parametrize("sep", [",", ";", "\t", "|", ", "])
def test_csv_separator_is_sniffed_and_spaces_after_it_skipped(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(sep.join(["a", "b", "label"]) + "\n" + sep.join(["1.5", "red", "yes"]) + "\n")
    raw = _table(DataConfig(source=str(path)))
    assert list(raw.frame.columns) == ["a", "b", "label"] and raw.target == "label"
    assert raw.frame.loc[0, "a"] == 1.5 and raw.frame.loc[0, "b"] == "red"


def test_explicit_separator_alias(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("a\tb\n1\t2\n3\t4\n")
    assert list(_table(DataConfig(source=str(path), sep="tab")).frame.columns) == ["a", "b"]


def test_headerless_csv_columns_are_numbered_and_last_is_target(tmp_path: Path) -> None:
    path = tmp_path / "t.data"
    path.write_text("1,2,x\n3,4,y\n")
    raw = _table(DataConfig(source=str(path), header=False))
    assert list(raw.frame.columns) == ["0", "1", "2"] and raw.target == "2"


def test_columns_name_a_headerless_file(tmp_path: Path) -> None:
    path = tmp_path / "t.data"
    path.write_text("1,2,x\n3,4,y\n")
    raw = _table(DataConfig(source=str(path), header=False, columns=["p", "q", "r"], target="p"))
    assert list(raw.frame.columns) == ["p", "q", "r"] and raw.target == "p"


def test_wrong_number_of_column_names_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "t.data"
    path.write_text("1,2,x\n3,4,y\n")
    with pytest.raises(DataError, match=r"data\.columns: names 2 columns but file '.*t\.data' has 3"):
        load_source(DataConfig(source=str(path), header=False, columns=["p", "q"]))


def test_missing_markers_become_nan_after_stripping(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,y\n1,?  ,NA,u\n,x,z,v\n2,-,w,u\n")
    raw = _table(DataConfig(source=str(path)))
    frame = raw.frame
    assert frame["b"].isna().tolist() == [True, False, False]
    assert frame["c"].isna().tolist() == [True, False, False]
    assert frame["a"].isna().tolist() == [False, True, False]
    custom = _table(DataConfig(source=str(path), missing_values=["-"])).frame
    assert custom["b"].isna().tolist() == [False, False, True]
    assert custom.loc[0, "b"] == "?"


def test_gzipped_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"a;b\n1;2\n3;4\n"))
    assert _table(DataConfig(source=str(path))).frame["a"].tolist() == [1, 3]


def test_unknown_extension_holding_text_is_read_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "table.xyz"
    path.write_text("a,b\n1,2\n")
    assert list(_table(DataConfig(source=str(path))).frame.columns) == ["a", "b"]


def test_drop_removes_columns_and_target_defaults_to_last_remaining(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,a,y,extra\n1,2,3,4\n5,6,7,8\n")
    raw = _table(DataConfig(source=str(path), drop=["id", "extra"]))
    assert list(raw.frame.columns) == ["a", "y"] and raw.target == "y"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"target": "incom"},
            r"data\.target: column 'incom' does not exist in file .*; did you mean \"income\"",
        ),
        ({"drop": ["agee"]}, r"data\.drop: column 'agee' does not exist in .*; did you mean \"age\""),
        (
            {"categorical": ["sexx"]},
            r"data\.categorical: column 'sexx' does not exist .*did you mean \"sex\"",
        ),
        (
            {"numeric": ["qqq"]},
            r"data\.numeric: column 'qqq' does not exist .*expected one of: age, sex, income",
        ),
    ],
)
def test_unknown_column_names_are_data_errors(tmp_path: Path, options: dict[str, object], message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("age,sex,income\n30,m,low\n40,f,high\n")
    with pytest.raises(DataError, match=message):
        load_source(DataConfig(source=str(path), **options))


def test_empty_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"^data\.source: file '.*empty\.csv' is empty$"):
        load_source(DataConfig(source=str(path)))


def test_header_without_rows_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataError, match="has a header but no data rows"):
        load_source(DataConfig(source=str(path)))


def test_unrecognised_binary_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"data\.source: cannot recognise the format of file '.*blob\.bin'"):
        load_source(DataConfig(source=str(path)))


def test_prediction_input_may_lack_the_target_column(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text("a,b\n1,2\n")
    raw = _table(DataConfig(source="unused", target="y"), str(path), require_target=False)
    assert raw.target is None and list(raw.frame.columns) == ["a", "b"]


def test_headerless_prediction_input_may_lack_the_target_column(tmp_path: Path) -> None:
    path = tmp_path / "new.data"
    path.write_text("1,2\n3,4\n")
    cfg = DataConfig(source="unused", header=False, columns=["a", "b", "y"], target="y")
    raw = _table(cfg, str(path), require_target=False)
    assert list(raw.frame.columns) == ["a", "b"] and raw.target is None


# ------------------------------------------------------------------------------------------- Parquet


def test_parquet_is_read_with_its_column_names(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"x": [1.0, 2.0, None], "c": ["a", " ? ", "b"], "y": [0, 1, 0]}).to_parquet(path)
    raw = _table(DataConfig(source=str(path)))
    assert raw.target == "y" and raw.frame["x"].isna().tolist() == [False, False, True]
    assert raw.frame["c"].isna().tolist() == [False, True, False]


def test_parquet_names_its_own_columns_whatever_data_columns_says(tmp_path: Path) -> None:
    path = tmp_path / "new.parquet"
    pd.DataFrame({"b": [3.0, 4.0], "a": [1.0, 2.0]}).to_parquet(path)
    cfg = DataConfig(source="train.csv", header=False, columns=["a", "b", "y"], target="y")  # a header-less CSV's
    raw = _table(cfg, str(path), require_target=False)  # prediction input: read by its own names, not renamed
    assert raw.frame["a"].tolist() == [1.0, 2.0] and raw.frame["b"].tolist() == [3.0, 4.0]
    with pytest.raises(DataError, match=r"data\.columns: names the columns of a header-less CSV, but data\.source"):
        load_source(DataConfig(source=str(path), columns=["a", "b"], target="b"))


def test_corrupt_parquet_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataError, match=r"data\.source: file '.*bad\.parquet' cannot be read as Parquet"):
        load_source(DataConfig(source=str(path)))


# --------------------------------------------------------------------------------------------- NumPy


def test_npz_with_named_arrays(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, labels=np.arange(4), features=np.ones((4, 3)))
    raw = _arrays(DataConfig(source=str(path)))
    assert raw.x.shape == (4, 3) and not raw.image and raw.y is not None and raw.y.tolist() == [0, 1, 2, 3]


def test_npz_without_known_names_uses_the_first_two_arrays(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, a=np.zeros((5, 2)), b=np.arange(5))
    raw = _arrays(DataConfig(source=str(path)))
    assert raw.x.shape == (5, 2) and raw.y is not None and raw.y.shape == (5,)


def test_npz_images_gain_a_channel_and_channels_last_is_transposed(tmp_path: Path) -> None:
    gray, rgb = tmp_path / "g.npz", tmp_path / "c.npz"
    np.savez(gray, x=np.zeros((6, 5, 4), dtype=np.uint8), y=np.arange(6))
    pixels = np.arange(2 * 5 * 4 * 3, dtype=np.uint8).reshape(2, 5, 4, 3)
    np.savez(rgb, x=pixels, y=np.arange(2))
    assert _arrays(DataConfig(source=str(gray))).x.shape == (6, 1, 5, 4)
    colour = _arrays(DataConfig(source=str(rgb)))
    assert colour.image and colour.x.shape == (2, 3, 5, 4)
    assert np.array_equal(colour.x[1, 2], pixels[1, :, :, 2])


def test_npz_with_mismatched_label_count_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 2)), y=np.arange(4))
    with pytest.raises(DataError, match="has 5 feature rows but 4 labels"):
        load_source(DataConfig(source=str(path)))


def test_npz_without_labels_loads_for_prediction_only(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 2)))
    assert _arrays(DataConfig(source="unused"), str(path), require_target=False).y is None
    with pytest.raises(DataError, match="holds features but no labels"):
        load_source(DataConfig(source=str(path)))


def test_npy_with_labels_file(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((4, 2, 3)))
    np.save(tmp_path / "y.npy", np.array([[1], [0], [1], [0]]))
    raw = _arrays(DataConfig(source=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy")))
    assert raw.image and raw.x.shape == (4, 1, 2, 3) and raw.y is not None and raw.y.tolist() == [1, 0, 1, 0]


def test_2d_npy_without_labels_takes_the_last_column_as_target(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / "d.npy", data)
    raw = _arrays(DataConfig(source=str(tmp_path / "d.npy")))
    assert np.array_equal(raw.x, data[:, :2]) and raw.y is not None and np.array_equal(raw.y, data[:, 2])
    unlabelled = _arrays(DataConfig(source="unused"), str(tmp_path / "d.npy"), require_target=False)
    assert unlabelled.x.shape == (4, 3) and unlabelled.y is None


def test_image_npy_without_labels_is_a_data_error(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((4, 2, 3)))
    with pytest.raises(DataError, match=r"no labels.*data\.labels"):
        load_source(DataConfig(source=str(tmp_path / "x.npy")))


def test_missing_labels_file_is_named(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((4, 2)))
    with pytest.raises(DataError, match=r"data\.labels: file '.*nolabels\.npy' does not exist"):
        load_source(DataConfig(source=str(tmp_path / "x.npy"), labels=str(tmp_path / "nolabels.npy")))


def test_object_npy_is_a_data_error(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"data\.source: file '.*o\.npy' cannot be read as \.npy"):
        load_source(DataConfig(source=str(tmp_path / "o.npy")))


def test_preamble_line_before_the_table_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.test"
    path.write_text("|1x3 Cross validator\n" + "".join(f"{i}, a, x{i % 2}\n" for i in range(20)))
    raw = _table(DataConfig(source=str(path), header=False))
    assert raw.frame.shape == (20, 3) and raw.frame["0"].tolist()[:2] == [0, 1]


def test_adult_test_file_loads_despite_its_first_line(shared_data: Path, adult_columns: list[str]) -> None:
    path = shared_data / "adult" / "adult.test"
    raw = _table(DataConfig(source=str(path), header=False, columns=adult_columns))
    assert raw.frame.shape == (16281, 15) and raw.frame["age"].dtype == np.int64
    assert raw.frame["income"].value_counts().to_dict() == {"<=50K.": 12435, ">50K.": 3846}


def test_builtin_dataset_prints_as_one_line() -> None:
    assert (
        str(BUILTIN_DATASETS["iris"])
        == "Iris flowers: 4 measurements, 3 species (150 rows, 4 features, classification)"
    )


def test_binary_bytes_in_a_csv_file_are_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\x00\xff\xfe" * 50)
    with pytest.raises(DataError, match=r"data\.source: cannot recognise the format of file '.*t\.csv'"):
        load_source(DataConfig(source=str(path)))
