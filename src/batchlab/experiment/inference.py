"""Use a finished run: reload its model and preprocessing, evaluate on data, predict new files."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from batchlab.atomic import write_text
from batchlab.config import Config
from batchlab.data.pipeline import Split, load_for_inference, prepare_data
from batchlab.data.preprocess import Preprocessor
from batchlab.errors import CheckpointError
from batchlab.experiment.components import eval_batches, resolve_device
from batchlab.experiment.rundir import RunDirectory
from batchlab.experiment.training import evaluate_split, weight_mismatches
from batchlab.models import build_model
from batchlab.train.checkpoint import load_weights
from batchlab.train.loop import evaluate_outputs
from batchlab.train.objective import Objective, make_objective

__all__ = ["TrainedRun", "evaluate_run", "load_run", "predict_run"]


@dataclass
class TrainedRun:
    """A run directory loaded for inference."""

    run: RunDirectory
    config: Config
    info: dict[str, Any]
    preprocessor: Preprocessor
    objective: Objective
    model: torch.nn.Module
    device: torch.device


def load_run(run_dir: str | Path, model: torch.nn.Module | None = None) -> TrainedRun:
    """Rebuild the model from the run's config and load its weights and preprocessing (no pickle).

    Args:
        run_dir: a run directory written by ``batchlab train``.
        model: the module to load weights into, for runs trained on a custom ``nn.Module``.

    Raises:
        CheckpointError: files are missing or do not fit the model.
    """
    run = RunDirectory(run_dir)
    run.require_run()
    config = run.read_config()
    info = run.read_json("run.json")
    preprocessor = Preprocessor.from_state(run.read_json("preprocess.json"))
    objective = make_objective(
        info["task"],
        info["num_outputs"],
        info["loss"],
        target_mean=info.get("target_mean", 0.0),
        target_std=info.get("target_std", 1.0),
    )
    if model is None:
        if info.get("custom_model"):
            raise CheckpointError(
                f"{str(run.path)!r} was trained on a custom module ({info.get('model')}); "
                "pass it as load_run(run_dir, model=...)"
            )
        model = build_model(config.model, tuple(info["input_shape"]), info["num_outputs"])
    weights = load_weights(run.weights_file)
    problems = weight_mismatches(model.state_dict(), weights)
    if problems:
        raise CheckpointError(f"{run.weights_file} does not fit the model: {'; '.join(problems)}")
    model.load_state_dict(weights)
    device = resolve_device("auto" if config.train.device == "auto" else config.train.device)
    model.to(device).eval()
    return TrainedRun(run, config, info, preprocessor, objective, model, device)


def evaluate_run(run_dir: str | Path, data: str | Path | None = None) -> dict[str, Any]:
    """Metrics of a trained run on its test split, or on a labelled file ``data``.

    The saved preprocessing is applied unchanged (it is never refitted).
    """
    trained = load_run(run_dir)
    split = _labelled_split(trained, data)
    return evaluate_split(
        trained.model, eval_batches(split, trained.device, trained.info["is_image"]), trained.objective
    )


def predict_run(run_dir: str | Path, source: str | Path, output: str | Path) -> int:
    """Write predictions for ``source`` to the CSV file ``output``; returns the number of rows.

    Columns: ``file`` for an image folder, ``prediction`` (class label, or value in the target's units)
    and, for classification, ``prob_<class>`` per class.
    """
    import pandas as pd

    trained = load_run(run_dir)
    inputs = load_for_inference(trained.config.data, trained.preprocessor, str(source), require_target=False)
    batches = eval_batches(Split(inputs.x, torch.zeros(len(inputs.x))), trained.device, trained.info["is_image"])
    outputs, _ = evaluate_outputs(trained.model, batches.epoch(0))
    outputs = outputs.cpu()
    objective = trained.objective
    frame = pd.DataFrame()
    if inputs.ids is not None:
        frame["file"] = list(inputs.ids)
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
    write_text(output, buffer.getvalue())
    return len(frame)


def _labelled_split(trained: TrainedRun, data: str | Path | None) -> Split:
    if data is not None:
        labelled = load_for_inference(trained.config.data, trained.preprocessor, str(data), require_target=True)
        if labelled.y is None:
            raise CheckpointError(f"--data {data}: no target column found")
        return Split(labelled.x, labelled.y)
    prepared = prepare_data(trained.config.data, preprocessor=trained.preprocessor)
    if prepared.test is None or not len(prepared.test):
        raise CheckpointError(f"{str(trained.run.path)!r} has no test split (data.split.test is 0); pass --data FILE")
    return prepared.test
