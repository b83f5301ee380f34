"""``batchlab export RUN --format onnx``: the exported file, run in onnxruntime on the raw test split, gives
the outputs PyTorch gives on the preprocessed test split (1e-5), for an MLP on a table with categorical and
missing values, a regression MLP, a CNN on images and sequence models on text (transformer, GRU, bag).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from batchlab.api import fit
from batchlab.experiment.inference import load_run
from batchlab.export import export_run
from batchlab.export.inputs import feeds_of_test_split

pytestmark = pytest.mark.slow

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

TOLERANCE = 1e-5


def _train(root: Path, name: str, config: dict[str, Any]) -> Path:
    run_dir = root / name
    config = {"name": name, **config}
    config.setdefault("train", {}).setdefault("threads", 1)
    fit(config, run_dir=run_dir, progress=False, plots=False)
    return run_dir


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table with two numeric columns (some cells missing, large offsets) and a categorical one."""
    rng = np.random.default_rng(0)
    n = 400
    colour = rng.choice(["red", "green", "blue"], n)
    a = rng.normal(50.0, 10.0, n)
    b = rng.normal(-3.0, 0.5, n)
    label = np.where((a - 50.0) / 10.0 + (colour == "red") * 1.5 + (b + 3.0) > 0.5, "yes", "no")
    a_text = [("" if i % 17 == 0 else f"{v:.3f}") for i, v in enumerate(a)]
    lines = ["a,b,colour,label"] + [f"{x},{y:.4f},{c},{t}" for x, y, c, t in zip(a_text, b, colour, label, strict=True)]
    path = tmp_path_factory.mktemp("table") / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, table_csv: Path, sms_slice: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    fast = {"epochs": 1, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.01}}
    text = {"source": str(sms_slice), "header": False, "columns": ["label", "message"], "text": "message"}
    text |= {"target": "label", "tokenizer": {"kind": "char"}, "max_length": 64}
    return {
        "mlp-table": _train(
            root,
            "mlp-table",
            {"data": {"source": str(table_csv), "target": "label"}, "model": {"hidden": [16]}, "train": fast},
        ),
        "mlp-regression": _train(
            root, "mlp-regression", {"data": {"source": "diabetes"}, "model": {"hidden": [16]}, "train": dict(fast)}
        ),
        "cnn": _train(
            root,
            "cnn",
            {
                "data": {"source": "digits"},
                "model": {"name": "cnn", "channels": [4, 8], "hidden": [16]},
                "train": dict(fast),
            },
        ),
        "transformer": _train(
            root,
            "transformer",
            {
                "data": text,
                "model": {"name": "transformer", "embed": 16, "layers": 1, "heads": 2, "hidden": []},
                "train": dict(fast),
            },
        ),
        "gru": _train(
            root,
            "gru",
            {
                "data": text,
                "model": {"name": "gru", "embed": 16, "bidirectional": True, "hidden": []},
                "train": dict(fast),
            },
        ),
        "bag": _train(
            root,
            "bag",
            {"data": text, "model": {"name": "bag", "embed": 16, "ngrams": 2, "hidden": []}, "train": dict(fast)},
        ),
    }


@pytest.mark.parametrize("name", ["mlp-table", "mlp-regression", "cnn", "transformer", "gru", "bag"])
def test_onnxruntime_matches_pytorch_on_the_test_split(name: str, runs: dict[str, Path], tmp_path: Path) -> None:
    run_dir = runs[name]
    written = export_run(run_dir, tmp_path / "model.onnx")
    assert written.checked_by == "onnxruntime"
    assert list(tmp_path.iterdir()) == [written.path]  # one self-contained file, no side file of weights
    onnx.checker.check_model(str(written.path))
    session = ort.InferenceSession(str(written.path), providers=["CPUExecutionProvider"])
    metadata = json.loads(session.get_modelmeta().custom_metadata_map["batchlab"])
    assert metadata["run"] == name and metadata["task"] in ("classification", "regression")
    trained = load_run(run_dir)
    objective = trained.objective
    samples = 0
    for feeds, inputs in feeds_of_test_split(trained):
        outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
        with torch.no_grad():
            raw = trained.model(*inputs)
        if objective.is_classification:
            np.testing.assert_allclose(outputs["logits"], raw.numpy(), atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(
                outputs["probabilities"], objective.probabilities(raw).numpy(), atol=TOLERANCE, rtol=0
            )
        else:
            # In the target's units (about 150 here) float32 keeps 1e-5 of the scaled value, not of the unit.
            scaled = (outputs["prediction"] - objective.target_mean) / objective.target_std
            np.testing.assert_allclose(scaled, raw.squeeze(-1).numpy(), atol=TOLERANCE, rtol=0)
        samples += len(next(iter(feeds.values())))
    assert samples == json.loads((run_dir / "run.json").read_text())["test_samples"]


def test_table_inputs_are_raw_numbers_with_missing_values(runs: dict[str, Path], tmp_path: Path) -> None:
    """The table model takes unscaled numbers (NaN where missing) and one-hot categories: the folding is real."""
    trained = load_run(runs["mlp-table"])
    feeds, (scaled,) = next(feeds_of_test_split(trained))
    x = feeds["x"]
    names = trained.preprocessor.feature_names_
    assert names == ["a", "b", "colour=blue", "colour=green", "colour=red"]
    assert np.isnan(x[:, 0]).any()  # the missing cells of column a reach the model as NaN
    assert np.nanmean(x[:, 0]) > 30 and abs(float(scaled[:, 0].mean())) < 1  # raw in, scaled inside
    assert set(np.unique(x[:, 2:])) <= {0.0, 1.0}
    session = ort.InferenceSession(str(export_run(runs["mlp-table"], tmp_path / "t.onnx").path))
    metadata = json.loads(session.get_modelmeta().custom_metadata_map["batchlab"])
    assert metadata["feature_names"] == names and metadata["classes"] == ["no", "yes"]
    assert any("one-hot" in note for note in metadata["notes"])


def test_regression_outputs_are_in_the_target_units(runs: dict[str, Path], tmp_path: Path) -> None:
    trained = load_run(runs["mlp-regression"])
    session = ort.InferenceSession(str(export_run(runs["mlp-regression"], tmp_path / "r.onnx").path))
    feeds, _ = next(feeds_of_test_split(trained))
    (prediction,) = session.run(["prediction"], feeds)
    # diabetes targets range from 25 to 346: scaled outputs would sit near 0.
    assert 25 < float(np.mean(prediction)) < 346


@pytest.mark.parametrize("name", ["cnn", "gru"])
def test_torchscript_export_matches_pytorch(name: str, runs: dict[str, Path], tmp_path: Path) -> None:
    run_dir = runs[name]
    written = export_run(run_dir, tmp_path / "model.pt", "torchscript")
    extra = {"batchlab.json": ""}
    loaded = torch.jit.load(str(written.path), _extra_files=extra)
    assert json.loads(extra["batchlab.json"])["run"] == name
    trained = load_run(run_dir)
    for feeds, inputs in feeds_of_test_split(trained):
        logits, probabilities = loaded(*(torch.from_numpy(v) for v in feeds.values()))
        with torch.no_grad():
            np.testing.assert_allclose(logits.numpy(), trained.model(*inputs).numpy(), atol=TOLERANCE, rtol=0)
        assert torch.allclose(probabilities.sum(dim=1), torch.ones(len(probabilities)))


def test_an_export_that_computes_something_else_is_not_written(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is run in onnxruntime before it is put in place: a wrong graph is an error, not a file."""
    from batchlab.errors import BatchlabError
    from batchlab.export import writers

    export = writers._export_dynamo

    def without_scaling(module: Any, spec: Any, example: Any, path: Path) -> None:
        wrong = copy.deepcopy(module)
        wrong.scaling = None  # the file's graph no longer scales its input
        export(wrong, spec, example, path)

    monkeypatch.setattr(writers, "_export_dynamo", without_scaling)
    with pytest.raises(BatchlabError, match="differs from PyTorch by .* in onnxruntime"):
        export_run(runs["cnn"], tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_and_says_how_close_the_file_is(runs: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from batchlab.cli import app

    out = tmp_path / "deploy" / "cnn.onnx"
    done = CliRunner().invoke(app, ["export", str(runs["cnn"]), "-o", str(out)])
    assert done.exit_code == 0, done.output
    line = done.output.strip()
    assert line.startswith(f"Exported onnx (torch.export) to {out}; onnxruntime matches PyTorch within ")
    assert float(line.rsplit(" ", 1)[1]) <= 1e-4
    assert list(out.parent.iterdir()) == [out]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("format", "--format: unknown format 'tflite'; expected one of: onnx, torchscript"),
        ("missing run", "does not exist"),
        ("directory", "is a directory; give a file name"),
    ],
)
def test_bad_inputs_are_one_line_errors(case: str, expected: str, runs: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from batchlab.cli import app

    run_dir, out, fmt = runs["cnn"], tmp_path / "m.onnx", "onnx"
    if case == "format":
        fmt = "tflite"
    elif case == "missing run":
        run_dir = tmp_path / "no-such-run"
    else:
        out = tmp_path
    done = CliRunner().invoke(app, ["export", str(run_dir), "--format", fmt, "-o", str(out)])
    assert done.exit_code == 2
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batchlab: error:") and expected in lines[0], done.output
    assert list(tmp_path.iterdir()) == []  # nothing written
