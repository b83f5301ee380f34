"""MiniBatchClassifier / MiniBatchRegressor in scikit-learn workflows, on real data."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from batchlab.sklearn import MiniBatchClassifier, MiniBatchRegressor, ParameterError

FAST = {"threads": 1, "device": "cpu"}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x, y, test_size=0.25, random_state=0, stratify=y))  # type: ignore[return-value]


def test_digits_test_accuracy_reaches_95_percent(digits) -> None:  # type: ignore[no-untyped-def]
    x_train, x_test, y_train, y_test = digits
    clf = MiniBatchClassifier(hidden=(128,), epochs=15, batch_size=32, random_state=0, **FAST).fit(x_train, y_train)
    assert clf.score(x_test, y_test) >= 0.95
    assert clf.n_iter_ == 15 and len(clf.history_) == 15
    assert clf.history_[-1]["samples"] == 15 * len(x_train)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    np.testing.assert_array_equal(clf.classes_, np.arange(10))


def test_predict_proba_agrees_with_predict_and_decision_function(digits) -> None:  # type: ignore[no-untyped-def]
    x_train, x_test, y_train, _ = digits
    clf = MiniBatchClassifier(hidden=(32,), epochs=3, random_state=0, **FAST).fit(x_train, y_train)
    proba = clf.predict_proba(x_test)
    assert proba.shape == (len(x_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(clf.predict(x_test), clf.classes_[proba.argmax(axis=1)])
    scores = clf.decision_function(x_test)
    np.testing.assert_allclose(proba, torch.softmax(torch.from_numpy(scores), dim=1).numpy(), rtol=1e-6)


def test_binary_labels_keep_their_values_and_decision_sign() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    labels = np.where(y == 1, "benign", "malignant")
    clf = MiniBatchClassifier(hidden=(16,), epochs=5, random_state=0, **FAST).fit(x, labels)
    assert list(clf.classes_) == ["benign", "malignant"]
    scores = clf.decision_function(x)
    assert scores.shape == (len(x),)
    np.testing.assert_array_equal(clf.predict(x), np.where(scores > 0, "malignant", "benign"))
    assert clf.score(x, labels) > 0.9


def test_grid_search_over_batch_size_on_breast_cancer() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0, stratify=y)
    search = GridSearchCV(
        MiniBatchClassifier(hidden=(16,), epochs=8, random_state=0, **FAST),
        {"batch_size": [8, 64, "full"]},
        cv=3,
    ).fit(x_train, y_train)
    assert search.best_params_["batch_size"] in (8, 64, "full")
    # 8 epochs of full-batch SGD are 8 steps: too few; small batches must win here.
    scores = dict(zip(search.cv_results_["param_batch_size"], search.cv_results_["mean_test_score"], strict=True))
    assert scores[8] > scores["full"]
    assert search.best_estimator_.score(x_test, y_test) >= 0.94
    assert search.best_estimator_.history_[-1]["step"] == 8 * -(-len(x_train) // search.best_params_["batch_size"])


def test_randomized_search_over_the_learning_rate() -> None:
    from scipy.stats import loguniform

    x, y = load_diabetes(return_X_y=True)
    search = RandomizedSearchCV(
        MiniBatchRegressor(hidden=(16,), epochs=20, random_state=0, **FAST),
        {"lr": loguniform(1e-4, 1e-1)},
        n_iter=3,
        cv=2,
        random_state=0,
    ).fit(x, y)
    rates = [params["lr"] for params in search.cv_results_["params"]]
    assert len(set(rates)) == 3 and search.best_params_["lr"] in rates
    assert search.best_estimator_.config_.train.optimizer.lr == search.best_params_["lr"]
    assert search.best_score_ > 0.3


def test_pipeline_and_cross_val_score_on_diabetes() -> None:
    x, y = load_diabetes(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MiniBatchRegressor(hidden=(32,), epochs=40, lr=0.01, random_state=0, **FAST))
    scores = cross_val_score(pipe, x, y, cv=3, scoring="r2")
    assert scores.shape == (3,) and scores.mean() > 0.35


def test_dataframe_with_categorical_columns_through_a_column_transformer() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": rng.normal(size=n),
            "weight": rng.normal(size=n),
        }
    )
    y = ((frame["colour"] == "red") ^ (frame["size"] > 0)).astype(int).to_numpy()
    columns = ColumnTransformer([("cat", OneHotEncoder(), ["colour"]), ("num", "passthrough", ["size", "weight"])])
    pipe = make_pipeline(columns, MiniBatchClassifier(hidden=(16,), epochs=30, batch_size=32, random_state=0, **FAST))
    pipe.fit(frame.iloc[:300], y[:300])
    assert pipe.score(frame.iloc[300:], y[300:]) > 0.9
    # Directly on a numeric DataFrame: the column names are kept and checked.
    clf = MiniBatchClassifier(hidden=(8,), epochs=2, random_state=0, **FAST).fit(frame[["size", "weight"]], y)
    assert list(clf.feature_names_in_) == ["size", "weight"] and clf.n_features_in_ == 2
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["weight", "size"]])


def test_random_state_makes_fits_identical_and_leaves_global_generators_alone(digits) -> None:  # type: ignore[no-untyped-def]
    x_train, x_test, y_train, _ = digits
    params = {"hidden": (16,), "epochs": 2, "dropout": 0.1, **FAST}
    np.random.seed(123)
    before = (np.random.random(), random.random(), torch.rand(1).item())
    np.random.seed(123)
    random.seed()
    threads = torch.get_num_threads()
    one = MiniBatchClassifier(random_state=7, **params).fit(x_train, y_train).predict_proba(x_test)
    assert np.random.random() == before[0]  # fit drew nothing from NumPy's global generator
    assert torch.get_num_threads() == threads  # threads=1 held for the fit only
    two = MiniBatchClassifier(random_state=7, **params).fit(x_train, y_train).predict_proba(x_test)
    three = MiniBatchClassifier(random_state=8, **params).fit(x_train, y_train).predict_proba(x_test)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, three)


def test_partial_fit_is_one_pass_and_keeps_classes(digits) -> None:  # type: ignore[no-untyped-def]
    x_train, x_test, y_train, y_test = digits
    clf = MiniBatchClassifier(hidden=(64,), batch_size=32, random_state=0, **FAST)
    first = y_train < 5  # the first call sees half of the classes; every class is named
    clf.partial_fit(x_train[first], y_train[first], classes=np.arange(10))
    assert clf.n_iter_ == 1 and clf.t_ == first.sum()
    assert clf.predict_proba(x_test).shape == (len(x_test), 10)
    for _ in range(6):
        clf.partial_fit(x_train, y_train)
    assert clf.n_iter_ == 7 and clf.t_ == first.sum() + 6 * len(x_train)
    assert [row["epoch"] for row in clf.history_] == list(range(1, 8))
    assert clf.history_[-1]["samples"] == clf.t_
    assert clf.history_[-1]["step"] == -(-first.sum() // 32) + 6 * -(-len(x_train) // 32)
    assert clf.score(x_test, y_test) > 0.9
    with pytest.raises(ValueError, match="not one of classes_"):
        clf.partial_fit(x_train[:5], np.full(5, 11))


def test_warm_start_continues_and_cold_start_restarts(digits) -> None:  # type: ignore[no-untyped-def]
    x_train, _, y_train, _ = digits
    warm = MiniBatchClassifier(hidden=(16,), epochs=2, warm_start=True, random_state=0, **FAST)
    warm.fit(x_train, y_train)
    weights = [p.detach().clone() for p in warm.model_.parameters()]
    warm.fit(x_train, y_train)
    assert warm.n_iter_ == 4 and [row["epoch"] for row in warm.history_] == [1, 2, 3, 4]
    assert warm.history_[2]["train_loss"] < warm.history_[0]["train_loss"]
    cold = MiniBatchClassifier(hidden=(16,), epochs=2, random_state=0, **FAST).fit(x_train, y_train)
    cold.fit(x_train, y_train)
    assert cold.n_iter_ == 2
    for before, after in zip(weights, cold.model_.parameters(), strict=True):
        torch.testing.assert_close(before, after.detach())  # restarted: the same first fit again


def test_early_stopping_holds_out_validation_rows(digits) -> None:  # type: ignore[no-untyped-def]
    x_train, _, y_train, _ = digits
    clf = MiniBatchClassifier(
        hidden=(32,), epochs=200, early_stopping=True, patience=2, validation_fraction=0.2, random_state=0, **FAST
    ).fit(x_train, y_train)
    assert clf.n_iter_ < 200 and clf.best_epoch_ is not None
    assert "val_accuracy" in clf.history_[-1]
    assert clf.history_[-1]["samples"] == clf.n_iter_ * round(0.8 * len(x_train))
    # The scaling is learned from the training rows only, not from the held-out ones.
    assert not np.allclose(clf.preprocessor_.scaler_.center_, x_train.mean(axis=0))
    plain = MiniBatchClassifier(hidden=(4,), epochs=1, random_state=0, **FAST).fit(x_train, y_train)
    np.testing.assert_allclose(plain.preprocessor_.scaler_.center_, x_train.mean(axis=0))


def test_too_few_rows_for_the_validation_fraction_names_the_parameter() -> None:
    x, y = np.arange(10.0).reshape(5, 2), np.array([0, 1, 0, 1, 0])
    with pytest.raises(ParameterError, match=r"^validation_fraction: 0.05 of 5 rows is less than one row"):
        MiniBatchClassifier(early_stopping=True, validation_fraction=0.05, **FAST).fit(x, y)


def test_a_bad_parameter_names_the_parameter() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ParameterError, match=r"^optimizer: unknown value \"adagrad\""):
        MiniBatchClassifier(optimizer="adagrad").fit(x, y)
    with pytest.raises(ValueError, match="^lr: "):
        MiniBatchRegressor(lr=-1.0).fit(x, y.astype(float))


def test_fitted_estimator_pickles(digits) -> None:  # type: ignore[no-untyped-def]
    x_train, x_test, y_train, _ = digits
    clf = MiniBatchClassifier(hidden=(8,), epochs=1, random_state=0, **FAST).fit(x_train, y_train)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(x_test), clf.predict_proba(x_test))


def test_regressor_predicts_in_target_units() -> None:
    x, y = load_diabetes(return_X_y=True)
    reg = MiniBatchRegressor(hidden=(), epochs=60, lr=0.02, random_state=0, **FAST).fit(x, y * 1000 + 5000)
    prediction = reg.predict(x)
    assert abs(prediction.mean() - (y.mean() * 1000 + 5000)) < 0.1 * y.std() * 1000
    assert reg.score(x, y * 1000 + 5000) > 0.4


def test_without_scikit_learn_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    for name in list(sys.modules):
        if name == "batchlab.sklearn" or name.startswith("batchlab.sklearn."):
            monkeypatch.delitem(sys.modules, name)
        elif name == "sklearn" or name.startswith("sklearn."):
            monkeypatch.setitem(sys.modules, name, None)  # importing it raises ImportError
    with pytest.raises(ImportError, match=r"^batchlab.sklearn needs scikit-learn: pip install 'batchlab\[sklearn\]'$"):
        importlib.import_module("batchlab.sklearn")


@pytest.mark.parametrize("estimator", [MiniBatchClassifier, MiniBatchRegressor])
def test_every_parameter_is_a_config_field_with_its_default(estimator: type) -> None:
    from batchlab.config import Config, flat_fields
    from batchlab.sklearn import PARAMETER_FIELDS

    defaults = flat_fields(Config())
    params = estimator().get_params()
    assert set(params) - set(PARAMETER_FIELDS) == {"warm_start", "random_state"}
    for name, value in params.items():
        if name in ("warm_start", "random_state", "early_stopping", "validation_fraction"):
            continue  # scikit-learn's conventions: no early stopping (so no held-out rows) unless asked
        expected = defaults[PARAMETER_FIELDS[name]]
        assert (list(value) if isinstance(value, tuple) else value) == expected, name
