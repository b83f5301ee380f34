"""scikit-learn estimators trained with batchlab: :class:`MiniBatchClassifier` and :class:`MiniBatchRegressor`.

They need scikit-learn (``pip install 'batchlab[sklearn]'``). Their parameters are batchlab config fields
(see :data:`~batchlab.sklearn.base.PARAMETER_FIELDS`); they work in ``Pipeline``, ``GridSearchCV``,
``cross_val_score`` and on pandas DataFrames.
"""

from batchlab.sklearn.base import PARAMETER_FIELDS, ParameterError
from batchlab.sklearn.classifier import MiniBatchClassifier
from batchlab.sklearn.regressor import MiniBatchRegressor

__all__ = ["PARAMETER_FIELDS", "MiniBatchClassifier", "MiniBatchRegressor", "ParameterError"]
