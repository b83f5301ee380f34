"""Tests of batchlab.data.pipeline: prepare_data end to end and loading inputs for inference."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from batchlab.config import DataConfig
from batchlab.data import (
    PreparedData,
    Preprocessor,
    load_for_inference,
    load_source,
    prepare_data,
    split_indices,
)
from batchlab.data.sources import RawTable
from batchlab.data.target import value_strings
from batchlab.errors import DataError

ADULT_CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
]


def _feature_kinds(data: PreparedData) -> dict[str, str]:
    columns = data.preprocessor.state_dict()["features"]["columns"]
    return {c["name"]: c["kind"] for c in columns}


def test_iris_is_split_stratified_into_tensors() -> None:
    data = prepare_data(DataConfig(source="iris"))
    assert (len(data.train), len(data.val), len(data.test)) == (104, 23, 23)  # type: ignore[arg-type]
    assert data.task == "classification" and data.classes == ["setosa", "versicolor", "virginica"]
    assert data.num_outputs == 3 and data.input_shape == (4,) and not data.is_image
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert data.val is not None and data.test is not None
    for split in (data.train, data.val, data.test):
        shares = torch.bincount(split.y, minlength=3).double() / len(split)
        assert torch.allclose(shares, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.03)


def test_scaler_statistics_come_from_training_rows_only() -> None:
    cfg = DataConfig(source="diabetes", split={"val": 0.2, "test": 0.2, "seed": 5})
    data = prepare_data(cfg)
    raw = load_source(cfg)
    assert isinstance(raw, RawTable)
    train_rows, _, _ = split_indices(len(raw), val=0.2, test=0.2, seed=5, stratify_labels=None)
    train = raw.frame.iloc[train_rows]
    columns = {c["name"]: c for c in data.preprocessor.state_dict()["features"]["columns"]}
    for name in ("age", "bmi", "s5"):
        assert columns[name]["center"] == pytest.approx(train[name].mean())
        assert columns[name]["scale"] == pytest.approx(train[name].std(ddof=0))
        assert columns[name]["center"] != pytest.approx(raw.frame[name].mean(), rel=1e-6, abs=1e-9)
    target = data.preprocessor.target_
    assert target.mean_ == pytest.approx(train["target"].mean()) and target.std_ == pytest.approx(
        train["target"].std(ddof=0)
    )
    assert data.task == "regression" and data.num_outputs == 1 and data.train.y.dtype == torch.float32
    assert float(data.train.y.mean()) == pytest.approx(0.0, abs=1e-5)


def test_binary_classification_has_one_output_and_zero_one_labels() -> None:
    data = prepare_data(DataConfig(source="breast_cancer"))
    assert data.classes == ["benign", "malignant"] and data.num_outputs == 1
    assert set(data.train.y.tolist()) == {0, 1}


def test_digits_images_are_scaled_by_16_and_standardized() -> None:
    data = prepare_data(DataConfig(source="digits", scale="minmax"))
    assert data.is_image and data.input_shape == (1, 8, 8) and data.num_outputs == 10
    assert float(data.train.x.max()) == 1.0 and float(data.train.x.min()) == 0.0


def test_zero_fractions_give_no_val_or_test_split() -> None:
    data = prepare_data(DataConfig(source="wine", split={"val": 0.0, "test": 0.0}))
    assert data.val is None and data.test is None and len(data.train) == 178


def test_same_seed_same_split_other_seed_other_split() -> None:
    first = prepare_data(DataConfig(source="iris", split={"seed": 1}))
    again = prepare_data(DataConfig(source="iris", split={"seed": 1}))
    other = prepare_data(DataConfig(source="iris", split={"seed": 2}))
    assert torch.equal(first.train.x, again.train.x)
    assert not torch.equal(first.train.x, other.train.x)


def test_rows_without_target_are_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [f"{i},{i % 2 if i != 5 else '?'}" for i in range(40)]
    (tmp_path / "t.csv").write_text("a,y\n" + "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="batchlab.data.preprocess"):
        data = prepare_data(DataConfig(source=str(tmp_path / "t.csv"), split={"val": 0.0, "test": 0.25}))
    assert "1 of 40 rows" in caplog.text
    assert len(data.train) + len(data.test) == 39  # type: ignore[arg-type]


def test_val_and_test_sources_replace_the_fractions(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(30, dtype=float), "y": ["p", "q", "r"] * 10})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[:4].to_csv(tmp_path / "val.csv", index=False)
    frame.iloc[4:9].to_csv(tmp_path / "test.csv", index=False)
    cfg = DataConfig(
        source=str(tmp_path / "train.csv"),
        split={
            "val": 0.5,
            "test": 0.4,
            "val_source": str(tmp_path / "val.csv"),
            "test_source": str(tmp_path / "test.csv"),
        },
    )
    data = prepare_data(cfg)
    assert len(data.train) == 30 and len(data.val) == 4 and len(data.test) == 5  # type: ignore[arg-type]
    assert data.test is not None and data.test.y.tolist() == [1, 2, 0, 1, 2]


def test_missing_val_source_names_its_field(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^data\.split\.val_source: file 'absent\.csv' does not exist$"):
        prepare_data(DataConfig(source="iris", split={"val_source": "absent.csv"}))


def test_adult_has_detected_categoricals_missing_markers_and_two_classes(
    shared_data: Path, adult_columns: list[str]
) -> None:
    cfg = DataConfig(
        source=str(shared_data / "adult" / "adult.data"), header=False, columns=adult_columns, target="income"
    )
    raw = load_source(cfg)
    assert isinstance(raw, RawTable) and raw.frame.shape == (32561, 15)
    assert raw.frame[["workclass", "occupation", "native-country"]].isna().any(axis=1).sum() == 2399
    data = prepare_data(cfg)
    kinds = _feature_kinds(data)
    assert sorted(name for name, kind in kinds.items() if kind == "categorical") == sorted(ADULT_CATEGORICAL)
    assert len(kinds) == 14 and data.classes == ["<=50K", ">50K"] and data.num_outputs == 1
    assert "workclass=?" not in (data.preprocessor.feature_names_ or [])
    labels = value_strings(raw.frame["income"]).to_numpy()
    assert (labels == ">50K").sum() == 7841
    share = float(torch.cat([data.train.y, data.val.y, data.test.y]).double().mean())  # type: ignore[union-attr]
    assert share == pytest.approx(7841 / 32561, abs=1e-6)


def test_mnist_prepares_scaled_images(shared_data: Path) -> None:
    data = prepare_data(DataConfig(source=str(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz"), scale="minmax"))
    assert data.input_shape == (1, 28, 28) and data.num_outputs == 10
    assert len(data.train) + len(data.val) + len(data.test) == 10000  # type: ignore[arg-type]
    assert float(data.train.x.max()) == 1.0


# ------------------------------------------------------------------------------------------ inference


def test_prediction_input_without_target_matches_training_transform(tmp_path: Path) -> None:
    data = prepare_data(DataConfig(source="iris", split={"val": 0.0, "test": 0.0}))
    raw = load_source(DataConfig(source="iris"))
    assert isinstance(raw, RawTable)
    raw.frame.drop(columns=["target"]).iloc[:5].to_csv(tmp_path / "new.csv", index=False)
    state = Preprocessor.from_state(data.preprocessor.state_dict())
    inputs = load_for_inference(DataConfig(source="iris"), state, str(tmp_path / "new.csv"), require_target=False)
    assert inputs.y is None and len(inputs) == 5
    expected, _ = data.preprocessor.transform(raw.take(np.arange(5)))
    assert torch.allclose(inputs.x, expected)


def test_evaluation_input_with_target(tmp_path: Path) -> None:
    data = prepare_data(DataConfig(source="iris"))
    raw = load_source(DataConfig(source="iris"))
    assert isinstance(raw, RawTable)
    raw.frame.iloc[[0, 60, 120]].to_csv(tmp_path / "labelled.csv", index=False)
    inputs = load_for_inference(
        DataConfig(source="iris"), data.preprocessor, str(tmp_path / "labelled.csv"), require_target=True
    )
    assert inputs.y is not None and inputs.y.tolist() == [0, 1, 2]


def test_evaluation_input_without_target_is_a_data_error(tmp_path: Path) -> None:
    data = prepare_data(DataConfig(source="iris"))
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"data\.target: column 'target' does not exist"):
        load_for_inference(DataConfig(source="iris"), data.preprocessor, str(tmp_path / "x.csv"), require_target=True)


def test_headerless_prediction_input_may_omit_the_target(tmp_path: Path, adult_columns: list[str]) -> None:
    rows = [
        "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
        "2174, 0, 40, United-States, <=50K",
        "50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, "
        "Male, 0, 0, 13, United-States, >50K",
    ]
    (tmp_path / "train.data").write_text("\n".join(rows * 10) + "\n")
    cfg = DataConfig(
        source=str(tmp_path / "train.data"),
        header=False,
        columns=adult_columns,
        target="income",
        split={"val": 0.0, "test": 0.0},
    )
    data = prepare_data(cfg)
    (tmp_path / "new.data").write_text("\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n")
    inputs = load_for_inference(cfg, data.preprocessor, str(tmp_path / "new.data"), require_target=False)
    assert torch.allclose(inputs.x, data.train.x[:2])


def test_npy_prediction_input_with_a_target_column_drops_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.normal(size=(40, 3)), np.arange(40) % 2])
    np.save(tmp_path / "d.npy", table)
    cfg = DataConfig(source=str(tmp_path / "d.npy"), split={"val": 0.0, "test": 0.0})
    data = prepare_data(cfg)
    inputs = load_for_inference(cfg, data.preprocessor, str(tmp_path / "d.npy"), require_target=False)
    assert inputs.x.shape == (40, 3) and inputs.y is None and torch.allclose(inputs.x, data.train.x)


def test_image_folder_prediction_keeps_file_ids(tmp_path: Path) -> None:
    for label, value in (("dark", 10), ("light", 240)):
        for i in range(4):
            path = tmp_path / "train" / label / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((4, 4), value + i, dtype=np.uint8)).save(path)
    (tmp_path / "new").mkdir()
    Image.fromarray(np.full((4, 4), 200, dtype=np.uint8)).save(tmp_path / "new" / "query.png")
    cfg = DataConfig(source=str(tmp_path / "train"), split={"val": 0.25, "test": 0.0})
    data = prepare_data(cfg)
    assert data.classes == ["dark", "light"] and data.input_shape == (1, 4, 4)
    inputs = load_for_inference(cfg, data.preprocessor, str(tmp_path / "new"), require_target=False)
    assert inputs.ids == ("query.png",) and inputs.x.shape == (1, 1, 4, 4) and inputs.y is None


def test_saved_preprocessor_rebuilds_the_same_test_split_without_refitting() -> None:
    cfg = DataConfig(source="wine", split={"seed": 3})
    data = prepare_data(cfg)
    saved = Preprocessor.from_state(data.preprocessor.state_dict())
    again = prepare_data(cfg, preprocessor=saved)
    assert again.preprocessor is saved
    assert data.test is not None and again.test is not None
    assert torch.equal(again.test.x, data.test.x) and torch.equal(again.test.y, data.test.y)


def test_regression_target_statistics_are_exposed_for_metrics_in_target_units() -> None:
    data = prepare_data(DataConfig(source="diabetes"))
    pre = data.preprocessor
    assert pre.target_mean_ == pre.target_.mean_ and pre.target_std_ == pre.target_.std_
    assert pre.target_std_ is not None and pre.target_std_ > 1.0
    assert prepare_data(DataConfig(source="iris")).preprocessor.target_mean_ is None


def test_splits_and_inference_data_unpack_as_x_and_y(tmp_path: Path) -> None:
    data = prepare_data(DataConfig(source="iris"))
    x, y = data.train
    assert x is data.train.x and y is data.train.y
    raw = load_source(DataConfig(source="iris"))
    assert isinstance(raw, RawTable)
    raw.frame.iloc[:3].to_csv(tmp_path / "few.csv", index=False)
    x_new, y_new = load_for_inference(
        DataConfig(source="iris"), data.preprocessor, str(tmp_path / "few.csv"), require_target=False
    )
    assert x_new.shape == (3, 4) and y_new is None


def test_a_separate_test_folder_is_read_with_the_training_images_size_and_channels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, size, mode in (("train", (6, 6), "L"), ("test", (9, 12), "RGB")):
        for label in ("a", "b"):
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(6):
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                Image.fromarray(pixels).convert(mode).save(tmp_path / split / label / f"{i}.png")
    data = prepare_data(
        DataConfig(
            source=str(tmp_path / "train"),
            scale="none",
            split={"val": 0.0, "test_source": str(tmp_path / "test")},
        )
    )
    assert data.test is not None and tuple(data.test.x.shape) == (12, 1, 6, 6)
    with Image.open(tmp_path / "test" / "a" / "0.png") as image:
        expected = np.asarray(image.convert("L").resize((6, 6), Image.Resampling.BILINEAR), dtype=np.float32)
    np.testing.assert_array_equal(data.test.x[0, 0].numpy(), expected)  # scale none: raw pixel values
