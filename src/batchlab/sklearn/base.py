"""What the scikit-learn estimators share: parameters as config fields, training through the run builder.

An estimator's parameters are fields of batchlab's config (``batch_size`` is ``train.batch_size``, ``lr``
is ``train.optimizer.lr``, ``hidden`` is ``model.hidden``, ...; :data:`PARAMETER_FIELDS` lists them all).
``fit`` validates ``X`` and ``y`` with scikit-learn, turns the parameters into a :class:`~batchlab.config.Config`,
builds the run with :func:`~batchlab.experiment.builder.build_run` on the in-memory rows
(:func:`~batchlab.data.in_memory.prepare_arrays`) and trains it with :func:`batchlab.train.loop.fit`:
the same batches, model, optimizer, schedule and early stopping as ``batchlab train``, without a run
directory.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from batchlab.config import Config, make_config
from batchlab.data.in_memory import ArrayPreprocessor, prepare_arrays
from batchlab.errors import ConfigError, DataError, DivergenceError

try:
    from sklearn.base import BaseEstimator
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("batchlab.sklearn needs scikit-learn: pip install 'batchlab[sklearn]'") from exc

__all__ = ["PARAMETER_FIELDS", "MiniBatchEstimator", "ParameterError"]

PARAMETER_FIELDS: dict[str, str] = {
    "hidden": "model.hidden",
    "activation": "model.activation",
    "batchnorm": "model.batchnorm",
    "dropout": "model.dropout",
    "batch_size": "train.batch_size",
    "epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "optimizer": "train.optimizer.name",
    "lr": "train.optimizer.lr",
    "momentum": "train.optimizer.momentum",
    "nesterov": "train.optimizer.nesterov",
    "weight_decay": "train.optimizer.weight_decay",
    "schedule": "train.schedule.name",
    "warmup_steps": "train.schedule.warmup_steps",
    "grad_clip": "train.grad_clip",
    "accumulate": "train.accumulate",
    "drop_last": "train.drop_last",
    "loss": "train.loss",
    "label_smoothing": "train.label_smoothing",
    "scale": "data.scale",
    "scale_target": "data.scale_target",
    "early_stopping": "train.early_stopping.enabled",
    "validation_fraction": "data.split.val",
    "patience": "train.early_stopping.patience",
    "device": "train.device",
    "threads": "train.threads",
}
"""Each estimator parameter and the config field it sets (``random_state`` sets ``train.seed``)."""

_PREDICT_ROWS = 4096  # rows per forward pass at prediction time


class ParameterError(ConfigError, ValueError):
    """An estimator parameter has a value its config field does not allow (raised by ``fit``)."""


class MiniBatchEstimator(BaseEstimator):  # type: ignore[misc]
    """Base of :class:`~batchlab.sklearn.MiniBatchClassifier` and :class:`~batchlab.sklearn.MiniBatchRegressor`.

    Subclasses set ``_task`` and implement ``_encode_targets`` (targets for the loss, the class names).
    """

    _task = "classification"

    # ------------------------------------------------------------------------------------- fitting

    def _fit(self, X: Any, y: Any, *, reset: bool, one_pass: bool, classes: Any = None) -> MiniBatchEstimator:
        """Validate, (re)build the run and train it; ``reset=False`` continues the fitted model."""
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            y_numeric=self._task == "regression",
        )
        targets, names = self._encode_targets(y, reset=reset, classes=classes)
        if reset:
            self._seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
            self._calls = 0
            self.n_iter_, self.t_, self._steps = 0, 0, 0
            self.history_: list[dict[str, Any]] = []
            self._optimizer_state: dict[str, Any] | None = None
            for name in ("model_", "preprocessor_"):  # fitted again from scratch: unfitted until training succeeds
                self.__dict__.pop(name, None)
        config = self._config(seed=self._seed + self._calls, one_pass=one_pass)
        with _global_state_kept():
            self._train(config, X, targets, names)
        self._calls += 1
        return self

    def _train(self, config: Config, X: np.ndarray, targets: np.ndarray, classes: list[str] | None) -> None:
        """Train a new model, or continue the fitted one, on the rows ``X`` and their encoded ``targets``.

        A new model's preprocessor is fitted on the training rows (not on those held out for early stopping).
        """
        from batchlab.experiment.builder import build_run
        from batchlab.train.loop import fit

        fitted = getattr(self, "preprocessor_", None)
        try:
            data = prepare_arrays(config.data, X, targets, task=self._task, classes=classes, preprocessor=fitted)
        except DataError as exc:  # too few rows for validation_fraction, a class too small to stratify
            raise ParameterError(_parameter_message(str(exc))) from None
        if isinstance(config.train.batch_size, int) and config.train.batch_size > len(data.train):
            config.train.batch_size = len(data.train)  # as MLPClassifier: a batch never exceeds the data
        try:
            parts = build_run(config, model=getattr(self, "model_", None), data=data)
        except ConfigError as exc:
            raise ParameterError(_parameter_message(str(exc))) from None
        if self._optimizer_state is not None:  # continue with the optimizer's moments, at this fit's rate
            saved = dict(self._optimizer_state, param_groups=parts.optimizer.state_dict()["param_groups"])
            parts.optimizer.load_state_dict(saved)
        state = fit(
            parts.model,
            parts.train,
            objective=parts.objective,
            optimizer=parts.optimizer,
            scheduler=parts.scheduler,
            val=parts.val,
            settings=parts.settings,
            callbacks=parts.callbacks,
            info=parts.info,
        )
        if state.diverged:
            raise DivergenceError(f"{type(self).__name__}: {state.diverged}; lower lr or set grad_clip")
        self.model_ = parts.module.eval()
        self.preprocessor_: ArrayPreprocessor = data.preprocessor  # type: ignore[assignment]
        self.objective_ = parts.objective
        self.config_ = config
        self._optimizer_state = parts.optimizer.state_dict()
        for row in state.history:  # counted from the last reset, across fit / partial_fit calls
            counts = {"epoch": row["epoch"] + self.n_iter_, "step": row["step"] + self._steps}
            self.history_.append({**row, **counts, "samples": row["samples"] + self.t_})
        self.n_iter_ += state.epoch
        self._steps += state.step
        self.t_ += state.samples
        self.loss_curve_ = [row["train_loss"] for row in self.history_ if "train_loss" in row]
        early = parts.early_stopping
        self.best_epoch_ = early.best_epoch if early is not None and early.restored else None

    def _config(self, *, seed: int, one_pass: bool) -> Config:
        """The run's config from the parameters; a parameter's bad value names the parameter."""
        early = bool(self.early_stopping) and not one_pass
        values: dict[str, Any] = {
            "name": type(self).__name__,
            "data": {
                "task": self._task,
                "scale": self.scale,
                "scale_target": self._scale_target(),
                "split": {"val": self.validation_fraction if early else 0.0, "test": 0.0, "seed": seed},
            },
            "model": {
                "name": "mlp",
                "hidden": list(self.hidden) if _is_sequence(self.hidden) else self.hidden,
                "activation": self.activation,
                "batchnorm": self.batchnorm,
                "dropout": self.dropout,
            },
            "train": {
                "batch_size": self.batch_size,
                "epochs": 1 if one_pass else self.epochs,
                "max_steps": None if one_pass else self.max_steps,
                "loss": self.loss,
                "label_smoothing": self._label_smoothing(),
                "optimizer": {
                    "name": self.optimizer,
                    "lr": self.lr,
                    "momentum": self.momentum,
                    "nesterov": self.nesterov,
                    "weight_decay": self.weight_decay,
                },
                "schedule": {"name": self.schedule, "warmup_steps": self.warmup_steps},
                "grad_clip": self.grad_clip,
                "accumulate": self.accumulate,
                "drop_last": self.drop_last,
                "early_stopping": {"enabled": early, "monitor": "val_loss", "patience": self.patience},
                "seed": seed,
                "device": self.device,
                "threads": self.threads,
            },
        }
        try:
            return make_config(values)
        except ConfigError as exc:
            raise ParameterError(_parameter_message(str(exc))) from None

    # ----------------------------------------------------------------------------------- prediction

    def _outputs(self, X: Any) -> torch.Tensor:
        """Raw model outputs for ``X``, float32 ``(n, outputs)`` on the CPU, in eval mode without gradients."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")
        x = self.preprocessor_.transform(X)
        model = self.model_
        device = next(model.parameters(), torch.empty(0)).device
        model.eval()
        with torch.inference_mode():
            parts = [model(x[i : i + _PREDICT_ROWS].to(device)).float().cpu() for i in range(0, len(x), _PREDICT_ROWS)]
        return torch.cat(parts) if parts else torch.empty((0, self.objective_.num_outputs))

    # --------------------------------------------------------------------------------------- hooks

    def _encode_targets(self, y: np.ndarray, *, reset: bool, classes: Any) -> tuple[np.ndarray, list[str] | None]:
        raise NotImplementedError

    def _scale_target(self) -> Any:
        return True

    def _label_smoothing(self) -> Any:
        return 0.0

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values take the training median (as data.missing: impute)
        return tags


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _parameter_message(message: str) -> str:
    """A config error's message with the field path replaced by the estimator parameter that sets it."""
    path, sep, rest = message.partition(": ")
    for name, field in PARAMETER_FIELDS.items():
        if path == field or path.startswith(field + "."):
            return f"{name}{path[len(field) :]}{sep}{rest}"
    return message


class _global_state_kept:
    """Leave the global torch, NumPy and ``random`` generators and torch's thread count as they were: a run
    seeds the generators for itself and sets the threads to ``train.threads``."""

    def __enter__(self) -> None:
        self._torch = torch.random.get_rng_state()
        self._numpy = np.random.get_state()
        self._python = random.getstate()
        self._threads = torch.get_num_threads()

    def __exit__(self, *exc: object) -> None:
        torch.random.set_rng_state(self._torch)
        np.random.set_state(self._numpy)
        random.setstate(self._python)
        torch.set_num_threads(self._threads)
