"""``MiniBatchClassifier``: a batchlab MLP trained on mini-batches, as a scikit-learn classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from batchlab.sklearn.base import MiniBatchEstimator

__all__ = ["MiniBatchClassifier"]


class MiniBatchClassifier(ClassifierMixin, MiniBatchEstimator):  # type: ignore[misc]
    """A multi-layer perceptron trained with batchlab's loop: a scikit-learn classifier.

    Every parameter is a field of batchlab's config (the name in brackets), with the config's default
    except ``early_stopping`` (off, as in scikit-learn). Nothing is checked or computed in ``__init__``;
    ``fit`` raises :class:`~batchlab.sklearn.base.ParameterError` (a ``ValueError``) naming a bad parameter.

    Args:
        hidden: units of each hidden layer (``model.hidden``); ``()`` gives logistic regression.
        activation: ``relu``, ``gelu``, ``tanh``, ``sigmoid``, ``leaky_relu``, ``silu`` or ``elu``
            (``model.activation``).
        batchnorm: batch normalization after each hidden layer (``model.batchnorm``).
        dropout: dropout probability after each hidden layer (``model.dropout``).
        batch_size: samples per optimizer step, or ``"full"`` (``train.batch_size``); a batch larger
            than the training rows is cut to them, as in ``MLPClassifier``.
        epochs: passes over the training rows per ``fit`` (``train.epochs``).
        max_steps: stop ``fit`` after this many optimizer steps (``train.max_steps``).
        optimizer: ``sgd``, ``adam``, ``adamw`` or ``rmsprop`` (``train.optimizer.name``).
        lr: learning rate (``train.optimizer.lr``).
        momentum: SGD / RMSprop momentum (``train.optimizer.momentum``).
        nesterov: SGD Nesterov momentum (``train.optimizer.nesterov``).
        weight_decay: L2 penalty (``train.optimizer.weight_decay``).
        schedule: ``constant``, ``step``, ``cosine`` or ``onecycle`` (``train.schedule.name``).
        warmup_steps: optimizer steps of linear warmup (``train.schedule.warmup_steps``).
        grad_clip: clip the gradient's global L2 norm to this value (``train.grad_clip``).
        accumulate: micro-batches per optimizer step (``train.accumulate``).
        drop_last: drop the last incomplete batch of each epoch (``train.drop_last``).
        loss: ``auto``, ``cross_entropy`` or ``bce`` (``train.loss``).
        label_smoothing: in [0, 1) (``train.label_smoothing``).
        scale: feature scaling fitted on the training rows: ``standard``, ``minmax`` or ``none``
            (``data.scale``); missing values (NaN) take the training median.
        early_stopping: hold out ``validation_fraction`` of the rows (stratified) and stop when the
            validation loss has not improved for ``patience`` epochs, keeping the best weights
            (``train.early_stopping.enabled``).
        validation_fraction: share of rows held out when ``early_stopping`` (``data.split.val``).
        patience: epochs without improvement before stopping (``train.early_stopping.patience``).
        warm_start: ``fit`` continues from the fitted model (same classes and features) instead of
            starting again; ``partial_fit`` always continues.
        random_state: seed of the weights, the batch order, dropout and the validation split
            (``train.seed``); ``None`` draws one from NumPy's global generator.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (``train.device``).
        threads: CPU threads for torch (``train.threads``; ``None``: chosen from the model's size and the free cores).

    Attributes:
        classes_: the class labels, sorted, shape ``(n_classes,)``.
        n_features_in_: features seen in ``fit``.
        feature_names_in_: column names of a DataFrame given to ``fit``, shape ``(n_features_in_,)``.
        model_: the trained ``torch.nn.Module``, mapping ``(batch, n_features_in_)`` scaled features to
            logits ``(batch, n_classes)`` (``(batch, 1)`` for two classes).
        preprocessor_: the fitted feature scaler (:class:`~batchlab.data.in_memory.ArrayPreprocessor`).
        history_: one dict per epoch: ``epoch``, ``step``, ``samples``, ``train_loss``, ``train_accuracy``,
            ``val_loss``, ``val_accuracy`` (with early stopping), ``lr``, ``seconds`` -- the rows of a
            run's ``metrics.csv``, over every call of ``fit`` / ``partial_fit`` since the last reset.
        loss_curve_: ``train_loss`` of each row of ``history_``.
        n_iter_: epochs trained since the last reset.
        t_: training samples seen since the last reset.
        best_epoch_: the epoch whose weights early stopping kept, or ``None``.
        config_: the :class:`~batchlab.config.Config` of the last ``fit`` / ``partial_fit``.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MiniBatchClassifier(hidden=(32,), epochs=40, batch_size=16, random_state=0).fit(X, y)
        >>> clf.score(X, y) > 0.9
        True
    """

    _task = "classification"

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
        label_smoothing: float = 0.0,
        scale: str = "standard",
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
        self.label_smoothing = label_smoothing
        self.scale = scale
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.threads = threads

    def fit(self, X: Any, y: Any) -> MiniBatchClassifier:
        """Train on ``X`` ``(n_samples, n_features)`` and labels ``y`` ``(n_samples,)`` for ``epochs`` epochs.

        With ``warm_start`` and a fitted model, training continues from it. Returns ``self``.
        """
        reset = not (self.warm_start and hasattr(self, "model_"))
        self._fit(X, y, reset=reset, one_pass=False)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MiniBatchClassifier:
        """One pass (epoch) over ``X``, ``y`` in mini-batches, continuing the fitted model.

        Args:
            X: features, ``(n_samples, n_features)``.
            y: labels, ``(n_samples,)``.
            classes: every class label, required in the first call (a batch may miss some classes).
        """
        self._fit(X, y, reset=not hasattr(self, "model_"), one_pass=True, classes=classes)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: ``(n_samples,)`` for two classes (positive for ``classes_[1]``), else ``(n_samples, n_classes)``."""
        outputs = self._outputs(X).double()
        if outputs.shape[1] == 1:
            return outputs[:, 0].numpy()
        if outputs.shape[1] == 2 and len(self.classes_) == 2:  # cross_entropy on two classes
            return (outputs[:, 1] - outputs[:, 0]).numpy()
        return outputs.numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n_samples, n_classes)``, rows summing to 1, columns in ``classes_`` order."""
        outputs = self._outputs(X).double()  # first: it raises NotFittedError on an unfitted estimator
        return self.objective_.probabilities(outputs).numpy()

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`, ``(n_samples, n_classes)``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))  # type: ignore[no-any-return]

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row, ``(n_samples,)``."""
        probabilities = self.predict_proba(X)  # first: it raises NotFittedError on an unfitted estimator
        return self.classes_[np.argmax(probabilities, axis=1)]  # type: ignore[no-any-return]

    def _encode_targets(self, y: Any, *, reset: bool, classes: Any) -> tuple[np.ndarray, list[str] | None]:
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            known = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if len(known) < 2:
                raise ValueError(
                    f"{type(self).__name__}: y has one class ({known[0] if len(known) else 'none'}); "
                    "a classifier needs at least 2 classes"
                )
            self.classes_ = known
        else:
            check_is_fitted(self, "classes_")
        unseen = ~np.isin(y, self.classes_)
        if unseen.any():
            raise ValueError(
                f"{type(self).__name__}: y holds the class {y[np.argmax(unseen)]!r}, not one of classes_ "
                f"{list(self.classes_)}; fit again without warm_start (or pass every class to the first partial_fit)"
            )
        return np.searchsorted(self.classes_, y).astype(np.int64), [str(c) for c in self.classes_]

    def _label_smoothing(self) -> Any:
        return self.label_smoothing
