"""The scikit-learn estimator checks that do not apply to the mini-batch estimators, with the reasons.

Pass :func:`expected_failed_checks` to ``parametrize_with_checks`` / ``check_estimator``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXPECTED_FAILED_CHECKS", "expected_failed_checks"]

_SUBSET = (
    "predictions are float32 forward passes: the matrix product sums a row's terms in an order that "
    "depends on how many rows are in the batch, so a row's output may differ in the 7th significant "
    "digit between a subset and the whole set; the check allows 1e-7"
)

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "MiniBatchClassifier": {},
    "MiniBatchRegressor": {"check_methods_subset_invariance": _SUBSET},
}
"""Check name -> reason, per estimator class."""


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The checks ``estimator`` is expected to fail, by name, with the reason."""
    return dict(EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}))
