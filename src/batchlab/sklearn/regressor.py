"""``MiniBatchRegressor``: a batchlab MLP trained on mini-batches, as a scikit-learn regressor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import column_or_1d

from batchlab.sklearn.base import MiniBatchEstimator

__all__ = ["MiniBatchRegressor"]


class MiniBatchRegressor(RegressorMixin, MiniBatchEstimator):  # type: ignore[misc]
    """A multi-layer perceptron trained with batchlab's loop: a scikit-learn regressor of one target.

    The parameters are those of :class:`~batchlab.sklearn.MiniBatchClassifier` (each a field of
    batchlab's config), except that ``label_smoothing`` does not apply, ``loss`` is ``auto`` (mse),
    ``mse``, ``mae`` or ``huber``, and:

    Args:
        scale_target: standardize ``y`` with its training mean and standard deviation for training
            (``data.scale_target``); predictions are always in ``y``'s units.

    Attributes:
        n_features_in_: features seen in ``fit``.
        feature_names_in_: column names of a DataFrame given to ``fit``, shape ``(n_features_in_,)``.
        model_: the trained ``torch.nn.Module``: ``(batch, n_features_in_)`` scaled features to
            ``(batch, 1)`` standardized targets.
        preprocessor_: the fitted feature scaler and target statistics
            (:class:`~batchlab.data.in_memory.ArrayPreprocessor`).
        history_: one dict per epoch (``train_loss``; ``val_loss``, ``val_mse``, ``val_mae``, ``val_r2``
            with early stopping; ``lr``, ...), as in :class:`~batchlab.sklearn.MiniBatchClassifier`.
        loss_curve_, n_iter_, t_, best_epoch_, config_: as in :class:`~batchlab.sklearn.MiniBatchClassifier`.

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = MiniBatchRegressor(hidden=(32,), epochs=50, lr=0.01, random_state=0).fit(X, y)
        >>> reg.score(X, y) > 0.4
        True
    """

    _task = "regression"

    def __init__(
        self,
        hidden: Sequence[int] = (256, 256),
        *,
        activation: str = "relu",
        batchnorm: bool = False,
        dropout: float = 0.0,
        batch_size: int | str = 64,
        epochs: int = 30,
        max_steps: int | None = None,
        optimizer: str = "sgd",
        lr: float = 0.05,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        warmup_steps: int = 0,
        grad_clip: float | None = None,
        accumulate: int = 1,
        drop_last: bool = False,
        loss: str = "auto",
        scale: str = "standard",
        scale_target: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 5,
        warm_start: bool = False,
        random_state: Any = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.batchnorm = batchnorm
        self.dropout = dropout
        self.batch_size = batch_size
        self.epochs = epochs
        self.max_steps = max_steps
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.grad_clip = grad_clip
        self.accumulate = accumulate
        self.drop_last = drop_last
        self.loss = loss
        self.scale = scale
        self.scale_target = scale_target
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.threads = threads

    def fit(self, X: Any, y: Any) -> MiniBatchRegressor:
        """Train on ``X`` ``(n_samples, n_features)`` and targets ``y`` ``(n_samples,)`` for ``epochs`` epochs.

        With ``warm_start`` and a fitted model, training continues from it. Returns ``self``.
        """
        reset = not (self.warm_start and hasattr(self, "model_"))
        self._fit(X, y, reset=reset, one_pass=False)
        return self

    def partial_fit(self, X: Any, y: Any) -> MiniBatchRegressor:
        """One pass (epoch) over ``X``, ``y`` in mini-batches, continuing the fitted model.

        The first call also fixes the feature scaling and the target's mean and standard deviation.
        """
        self._fit(X, y, reset=not hasattr(self, "model_"), one_pass=True)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets in ``y``'s units, ``(n_samples,)`` float64."""
        outputs = self._outputs(X).double()  # first: it raises NotFittedError on an unfitted estimator
        return self.objective_.predict(outputs).numpy()

    def _encode_targets(self, y: Any, *, reset: bool, classes: Any) -> tuple[np.ndarray, list[str] | None]:
        values = column_or_1d(y, warn=True).astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"{type(self).__name__}: y holds NaN or infinity; every target must be a finite number")
        return values, None

    def _scale_target(self) -> Any:
        return self.scale_target
