"""Use a finished run: reload its model and preprocessing, evaluate on data, predict new files.

A run trained on a custom ``torch.nn.Module`` (Python API) cannot be rebuilt from its config: pass the
module (freshly constructed, same architecture) as ``model=`` and its weights are loaded into it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from batchlab.atomic import write_text
from batchlab.config import Config
from batchlab.data.pipeline import load_for_inference, prepare_data, preprocessor_from_state
from batchlab.data.prepared import SequenceSplit, Split
from batchlab.errors import CheckpointError, ConfigError
from batchlab.experiment.components import eval_batches, resolve_device
from batchlab.experiment.rundir import RunDirectory
from batchlab.inputs import InputSpec
from batchlab.models import build_model
from batchlab.train.checkpoint import load_weights
from batchlab.train.evaluation import evaluate_batches, evaluate_outputs
from batchlab.train.objective import Objective, make_objective
from batchlab.train.resume import weight_mismatches

__all__ = ["TrainedRun", "evaluate_run", "load_run", "predict_run"]


@dataclass
class TrainedRun:
    """A run directory loaded for inference.

    Attributes:
        run: the run directory.
        config: its config.
        info: its ``run.json``.
        preprocessor: the preprocessing fitted on its training split.
        objective: its loss and metrics.
        model: the trained module, in eval mode on ``device``.
        device: where the model is.
        spec: what one input sample looks like.
        eval_transform: the batch transform evaluation applies (audio features), or ``None``.
    """

    run: RunDirectory
    config: Config
    info: dict[str, Any]
    preprocessor: Any
    objective: Objective
    model: torch.nn.Module
    device: torch.device
    spec: InputSpec
    eval_transform: Any = None

    def batches(self, split: Any, *, ordered: bool = False) -> Any:
        """Evaluation batches of ``split`` for this run's model."""
        return eval_batches(split, self.spec, self.device, ordered=ordered, transform=self.eval_transform)


def load_run(run_dir: str | Path, model: torch.nn.Module | None = None) -> TrainedRun:
    """Rebuild the model from the run's config and load its weights and preprocessing (no pickle).

    Args:
        run_dir: a run directory written by ``batchlab train``.
        model: the module to load the weights into, for runs trained on a custom ``nn.Module``.

    Raises:
        CheckpointError: files are missing or do not fit the model.
    """
    run = RunDirectory(run_dir)
    run.require_run()
    config = run.read_config()
    info = run.read_json("run.json")
    try:
        objective = make_objective(
            info["task"],
            info["num_outputs"],
            info["loss"],
            target_mean=info.get("target_mean", 0.0),
            target_std=info.get("target_std", 1.0),
            token_unit=info.get("token_unit", "token"),
        )
        spec = (
            InputSpec.from_dict(info["input_spec"])
            if "input_spec" in info
            else InputSpec.from_shape(tuple(info["input_shape"]))
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _damaged(run.run_file, exc) from None
    try:
        preprocessor = preprocessor_from_state(run.read_json("preprocess.json"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _damaged(run.preprocess_file, exc) from None
    if model is None:
        if info.get("custom_model"):
            raise CheckpointError(
                f"{str(run.path)!r} was trained on a custom module ({info.get('model')}); it cannot be rebuilt "
                f"from config.yaml: from Python, pass a new instance, e.g. batchlab.evaluate(run_dir, "
                f"model={info.get('model')}(...))"
            )
        model = build_model(config.model, spec, info["num_outputs"], task=info["task"])
    weights = load_weights(run.weights_file)
    problems = weight_mismatches(model.state_dict(), weights)
    if problems:
        what = f"the module {type(model).__name__}" if info.get("custom_model") else "the model"
        raise CheckpointError(f"{run.weights_file} does not fit {what}: {'; '.join(problems)}")
    model.load_state_dict(weights)
    device = resolve_device("auto" if config.train.device == "auto" else config.train.device)
    model.to(device).eval()
    transform = None
    if spec.kind == "frames":
        from batchlab.data.audio import audio_transforms

        transform = audio_transforms(preprocessor, [], seed=config.train.seed, device=device)[1]
    return TrainedRun(run, config, info, preprocessor, objective, model, device, spec, transform)


def _damaged(file: Path, exc: Exception) -> CheckpointError:
    """A run file that parses but lacks what batchlab wrote into it (edited or damaged)."""
    what = (
        f"lacks {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else f"does not hold what it should ({exc})"
    )
    return CheckpointError(f"{str(file)!r} {what}; damaged? batchlab train writes it (train the run again)")


def evaluate_run(
    run_dir: str | Path, data: str | Path | None = None, *, model: torch.nn.Module | None = None
) -> dict[str, Any]:
    """Metrics of a trained run on its test split, or on a labelled file ``data``.

    The saved preprocessing is applied unchanged (it is never refitted).

    Args:
        run_dir: the run directory.
        data: a labelled file in the training data's format (for a language model: a ``.txt`` file
            or folder, read in windows of the run's context); default the run's own test split.
        model: a new instance of the custom module a run was trained on (Python API runs).
    """
    trained = load_run(run_dir, model)
    split = _labelled_split(trained, data)
    return evaluate_batches(trained.model, trained.batches(split).epoch(0), trained.objective, detailed=True)


def predict_run(
    run_dir: str | Path, source: str | Path, output: str | Path, *, model: torch.nn.Module | None = None
) -> int:
    """Write predictions for ``source`` to the CSV file ``output``; returns the number of rows.

    Columns: ``file`` for a folder of images or recordings, ``row`` for texts (the 1-based data row of
    each text in ``source``; rows with an empty text are left out), ``prediction`` (class label, or
    value in the target's units) and, for classification, ``prob_<class>`` per class, in input order.
    """
    import pandas as pd

    _check_output_file(Path(output), "--output")
    trained = load_run(run_dir, model)
    if trained.objective.is_language_model:
        raise CheckpointError(
            f"{str(trained.run.path)!r} is a language model: predict labels with a classifier run; "
            f"sample text with: batchlab generate {trained.run.path} --prompt TEXT"
        )
    inputs = load_for_inference(trained.config.data, trained.preprocessor, str(source), require_target=False)
    zeros = torch.zeros(len(inputs), dtype=torch.long)
    split = SequenceSplit(inputs.x, zeros) if not isinstance(inputs.x, torch.Tensor) else Split(inputs.x, zeros)
    outputs, _ = evaluate_outputs(trained.model, trained.batches(split, ordered=True).epoch(0))
    outputs = outputs.float().cpu()
    objective = trained.objective
    frame = pd.DataFrame()
    if inputs.ids is not None:
        # Texts are named by their 1-based data row (empty texts are dropped), files by their path.
        frame["row" if trained.spec.kind == "tokens" else "file"] = list(inputs.ids)
    if objective.is_classification:
        classes = trained.info.get("classes") or [str(i) for i in range(objective.num_classes)]
        indices = objective.predict(outputs).numpy()
        frame["prediction"] = [classes[i] for i in indices]
        probabilities = objective.probabilities(outputs).numpy()
        for column, name in enumerate(classes):
            frame[f"prob_{name}"] = probabilities[:, column]
    else:
        frame["prediction"] = objective.predict(outputs).numpy()
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    try:
        write_text(output, buffer.getvalue())
    except OSError as exc:
        raise ConfigError(f"--output: cannot write {str(output)!r}: {exc.strerror or exc}") from None
    return len(frame)


def _check_output_file(path: Path, option: str) -> None:
    """Fail before any work when ``path`` cannot become a file: a folder, under a file, nowhere to write."""
    if path.is_dir():
        raise ConfigError(
            f"{option}: {str(path)!r} is a folder; give a file name, e.g. {str(path / 'predictions.csv')!r}"
        )
    parent = path.parent
    if not parent.exists():
        raise ConfigError(f"{option}: folder {str(parent)!r} does not exist; create it first or choose another path")
    if not parent.is_dir():
        raise ConfigError(f"{option}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option}: cannot write to folder {str(parent)!r} (permission denied)")


def _labelled_split(trained: TrainedRun, data: str | Path | None) -> Any:
    if data is not None and trained.objective.is_language_model:
        from batchlab.data.text import load_corpus_for_evaluation

        # A corpus has no labels: the text itself is the target, one window after another.
        return load_corpus_for_evaluation(trained.config.data, trained.preprocessor, str(data), field="--data")
    if data is not None:
        labelled = load_for_inference(trained.config.data, trained.preprocessor, str(data), require_target=True)
        if labelled.y is None:
            raise CheckpointError(f"--data {data}: no target column found")
        if isinstance(labelled.x, torch.Tensor):
            return Split(labelled.x, labelled.y)
        return SequenceSplit(labelled.x, labelled.y)
    prepared = prepare_data(trained.config.data, preprocessor=trained.preprocessor)
    if prepared.test is None or not len(prepared.test):
        raise CheckpointError(f"{str(trained.run.path)!r} has no test split (data.split.test is 0); pass --data FILE")
    return prepared.test
