"""scikit-learn's own estimator checks on MiniBatchClassifier and MiniBatchRegressor."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from batchlab.sklearn import MiniBatchClassifier, MiniBatchRegressor
from batchlab.sklearn.checks import expected_failed_checks

# Small and quick: the checks fit hundreds of times on tiny random data.
_FAST = {"hidden": (16,), "epochs": 5, "batch_size": 16, "threads": 1, "device": "cpu", "random_state": 0}


@parametrize_with_checks(
    [MiniBatchClassifier(**_FAST), MiniBatchRegressor(**_FAST)],  # type: ignore[arg-type]
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):  # type: ignore[no-untyped-def]
    check(estimator)
