"""A trained run as one module for deployment: numeric preprocessing folded in front of the network and the
output decoding behind it, so an exported file takes raw numbers and gives probabilities or values.

What is folded in (computed inside the exported graph, with the run's fitted statistics):

- tables and vectors: the missing-value fill (training median) and the scaling of each feature;
- images: the missing-pixel fill, the division to [0, 1] and the per-channel standardization;
- outputs: softmax (sigmoid for a binary classifier) into class probabilities, or the regression
  target's scaling undone, so values come out in the target's units.

What is not (the caller does it, as ``batchlab predict`` does; :func:`deployment_notes` says so in words
and :mod:`batchlab.export.inputs` does it in Python):

- the one-hot encoding of categorical table columns (text cannot enter a tensor graph): the input has one
  0/1 column per training category, named ``column=category``;
- reading and resizing image files: the input is the pixel array, in the source's units;
- tokenizers (text to ids): the input is padded token ids and their lengths;
- audio featurizers (resampling, STFT, log-mel, their normalization): the input is the model's feature
  frames and their lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["DeployedModel", "DeploymentSpec", "FeatureScaling", "deployed_model", "deployment_notes"]


class FeatureScaling(nn.Module):
    """``(where(isfinite(x), x, fill) / divisor - center) / scale``, per feature or per image channel.

    Args:
        fill: ``(features,)`` or ``(channels,)`` value of missing (NaN, ±inf) inputs, in raw units.
        center: subtracted after the division, same shape.
        scale: divided by after centering, same shape (never 0).
        divisor: images: the value mapping pixels to [0, 1] (1 for tables and vectors).
        image: the input is ``(batch, channels, height, width)`` rather than ``(batch, features)``.
    """

    fill: torch.Tensor
    center: torch.Tensor
    scale: torch.Tensor

    def __init__(self, fill: np.ndarray, center: np.ndarray, scale: np.ndarray, divisor: float, image: bool) -> None:
        super().__init__()
        shape = (1, -1, 1, 1) if image else (1, -1)

        def buffer(values: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(shape)

        self.register_buffer("fill", buffer(fill))
        self.register_buffer("center", buffer(center))
        self.register_buffer("scale", buffer(scale))
        self.divisor = float(divisor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw ``x`` ``(batch, features)`` or ``(batch, C, H, W)`` float32 to the model's scaled input."""
        x = torch.where(torch.isfinite(x), x, self.fill.expand_as(x))
        if self.divisor != 1.0:
            x = x / self.divisor
        return (x - self.center) / self.scale


@dataclass(frozen=True)
class DeploymentSpec:
    """The inputs and outputs of a deployed model, for metadata and for callers.

    Attributes:
        inputs: ``(name, dtype, shape)`` of each input; shapes name their free dimensions
            (``batch``, ``time``).
        outputs: ``(name, dtype, shape)`` of each output.
        kind: the run's input kind (``vector``, ``image``, ``tokens``, ``frames``).
        task: ``classification``, ``regression`` or ``language_model``.
        classes: class names in output order (classification).
        feature_names: one name per input feature (tables and vectors).
        max_length: longest sequence the model accepts, in steps (sequences).
        vocab_size: token ids are in ``[0, vocab_size)`` (tokens).
        notes: what is folded in and what the caller must do first, one sentence each.
    """

    inputs: tuple[tuple[str, str, tuple[int | str, ...]], ...]
    outputs: tuple[tuple[str, str, tuple[int | str, ...]], ...]
    kind: str
    task: str
    classes: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    max_length: int | None = None
    vocab_size: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def input_names(self) -> list[str]:
        return [name for name, _, _ in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [name for name, _, _ in self.outputs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the exported file's metadata)."""
        return {
            "inputs": [{"name": n, "dtype": d, "shape": list(s)} for n, d, s in self.inputs],
            "outputs": [{"name": n, "dtype": d, "shape": list(s)} for n, d, s in self.outputs],
            "kind": self.kind,
            "task": self.task,
            "classes": list(self.classes) if self.classes is not None else None,
            "feature_names": list(self.feature_names) if self.feature_names is not None else None,
            "max_length": self.max_length,
            "vocab_size": self.vocab_size,
            "notes": list(self.notes),
        }


class DeployedModel(nn.Module):
    """Preprocessing, network and output decoding as one module.

    ``forward(x)`` or ``forward(x, lengths)`` returns a tuple: ``(logits, probabilities)`` for a
    classifier, ``(prediction,)`` for a regressor, ``(logits,)`` for a language model (see
    :class:`DeploymentSpec` for the shapes).
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        task: str,
        num_outputs: int,
        scaling: FeatureScaling | None = None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        sequence: bool = False,
    ) -> None:
        super().__init__()
        self.network = network
        self.scaling = scaling
        self.task = task
        self.num_outputs = num_outputs
        self.target_mean = float(target_mean)
        self.target_std = float(target_std)
        self.sequence = sequence

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        if self.scaling is not None:
            x = self.scaling(x)
        outputs = self.network(x, lengths) if self.sequence and lengths is not None else self.network(x)
        if self.task == "classification":
            if self.num_outputs == 1:
                p = torch.sigmoid(outputs.squeeze(-1))
                return outputs, torch.stack([1.0 - p, p], dim=-1)
            return outputs, torch.softmax(outputs, dim=-1)
        if self.task == "regression":
            return (outputs.squeeze(-1) * self.target_std + self.target_mean,)
        return (outputs,)


def deployed_model(trained: Any) -> tuple[DeployedModel, DeploymentSpec]:
    """The deployment module and its description for a loaded run.

    Args:
        trained: a :class:`~batchlab.experiment.inference.TrainedRun` (its model on the CPU, in eval mode).

    Returns:
        ``(module, spec)``; the module shares the run's network (its weights are not copied).
    """
    spec, info, objective = trained.spec, trained.info, trained.objective
    task = objective.task
    scaling = _scaling(trained.preprocessor) if spec.kind in ("vector", "image") else None
    sequence = spec.is_sequence
    module = DeployedModel(
        trained.model,
        task=task,
        num_outputs=objective.num_outputs,
        scaling=scaling,
        target_mean=objective.target_mean,
        target_std=objective.target_std,
        sequence=sequence and task != "language_model",
    )
    module.eval()
    if spec.kind == "tokens":
        inputs: list[tuple[str, str, tuple[int | str, ...]]] = [("x", "int64", ("batch", "time"))]
    elif spec.kind == "frames":
        inputs = [("x", "float32", ("batch", "time", *spec.shape))]
    else:
        inputs = [("x", "float32", ("batch", *spec.shape))]
    if module.sequence:
        inputs.append(("lengths", "int64", ("batch",)))
    classes = tuple(str(c) for c in info.get("classes") or []) or None
    if task == "classification":
        k = objective.num_outputs
        outputs: list[tuple[str, str, tuple[int | str, ...]]] = [
            ("logits", "float32", ("batch", k)),
            ("probabilities", "float32", ("batch", objective.num_classes)),
        ]
    elif task == "regression":
        outputs = [("prediction", "float32", ("batch",))]
    else:
        outputs = [("logits", "float32", ("batch", "time", objective.num_outputs))]
    names = getattr(trained.preprocessor, "feature_names_", None) if spec.kind == "vector" else None
    description = DeploymentSpec(
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        kind=spec.kind,
        task=task,
        classes=classes if task == "classification" else None,
        feature_names=tuple(names) if names else None,
        max_length=spec.max_length if sequence else None,
        vocab_size=spec.vocab_size if spec.kind == "tokens" else None,
        notes=tuple(deployment_notes(trained)),
    )
    return module, description


def deployment_notes(trained: Any) -> list[str]:
    """What the exported model does itself and what its caller must do first, one sentence each."""
    spec, objective = trained.spec, trained.objective
    notes = []
    if spec.kind == "vector":
        table = _table_columns(trained.preprocessor)
        if table is None:
            notes.append("Folded in: missing-value fill (training median) and scaling of each feature.")
        else:
            numeric, categorical = table
            notes.append(
                "Folded in: missing-value fill (training median; NaN marks a missing value) and scaling of the "
                f"numeric columns ({', '.join(numeric) or 'none'})."
            )
            if categorical:
                notes.append(
                    "Not folded in: the one-hot encoding of the categorical columns "
                    f"({', '.join(categorical)}); give one 0/1 input per training category, named "
                    "column=category in feature_names (an unseen category is all zeros, a missing one the "
                    "training mode)."
                )
    elif spec.kind == "image":
        notes.append(
            "Folded in: missing-pixel fill, division to [0, 1] and per-channel standardization; the input is "
            "the pixel array in the source's units (C, H, W)."
        )
        notes.append("Not folded in: reading image files, conversion to the trained channels and resizing.")
    elif spec.kind == "tokens":
        notes.append(
            "Not folded in: the tokenizer; the input is token ids padded with id "
            f"{spec.pad_id} (and, for classifiers, the number of valid tokens of each text), at most "
            f"{spec.max_length} tokens."
        )
    else:
        notes.append(
            "Not folded in: the audio featurizer (resampling, log-mel features and their normalization); the "
            "input is the model's feature frames and the number of valid frames of each recording."
        )
    if objective.task == "classification":
        notes.append("Outputs: logits and class probabilities (softmax, or sigmoid for a binary classifier).")
    elif objective.task == "regression":
        notes.append("Outputs: the prediction in the target's units (the target's scaling is undone).")
    else:
        notes.append("Outputs: next-token logits at every step.")
    return notes


def _scaling(preprocessor: Any) -> FeatureScaling | None:
    from batchlab.data.array_scaler import ArrayScaler
    from batchlab.data.table_encoder import NumericColumn, TableEncoder

    features = getattr(preprocessor, "features_", None)
    if isinstance(features, ArrayScaler):
        return FeatureScaling(features.fill_, features.center_, features.scale_, features.divisor_, features.image_)
    if isinstance(features, TableEncoder):
        fill, center, scale = [], [], []
        for column in features.columns_:
            if isinstance(column, NumericColumn):
                fill.append(column.median)
                center.append(column.center)
                scale.append(column.scale)
            else:  # one 0/1 input per category, passed through unchanged
                width = len(column.categories)
                fill += [0.0] * width
                center += [0.0] * width
                scale += [1.0] * width
        return FeatureScaling(np.array(fill), np.array(center), np.array(scale), 1.0, False)
    return None


def _table_columns(preprocessor: Any) -> tuple[list[str], list[str]] | None:
    from batchlab.data.table_encoder import NumericColumn, TableEncoder

    features = getattr(preprocessor, "features_", None)
    if not isinstance(features, TableEncoder):
        return None
    numeric = [c.name for c in features.columns_ if isinstance(c, NumericColumn)]
    categorical = [c.name for c in features.columns_ if not isinstance(c, NumericColumn)]
    return numeric, categorical
