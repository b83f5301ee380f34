"""The text workflow from the command line, on slices of the real SMS Spam Collection and Tiny Shakespeare:
train -> evaluate -> predict for a classifier, train -> evaluate -> generate for a language model, and a
batch-size study and a tuning study of a text classifier.

Each command runs in a fresh process (the ``batchlab_cli`` fixture); results are checked against the
Python API and scikit-learn in this process.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

import batchlab
from tests.conftest import REPO, run_batchlab

CLASSIFIER = {
    "name": "spam",
    "data": {
        "source": "sms.tsv",  # relative to the working directory, as in the shipped configs
        "header": False,
        "columns": ["label", "message"],
        "text": "message",
        "target": "label",
        "tokenizer": {"kind": "bpe", "vocab_size": 400},
        "max_length": 64,
    },
    "model": {"name": "transformer", "embed": 32, "layers": 1, "heads": 2, "dropout": 0.1},
    "train": {"batch_size": 16, "epochs": 3, "optimizer": {"name": "adamw", "lr": 0.003}},
}
LANGUAGE_MODEL = {
    "name": "bard",
    "data": {"source": "shakespeare.txt", "task": "language_model", "context": 32, "split": {"val": 0.1, "test": 0.1}},
    "model": {"name": "gpt", "embed": 32, "layers": 1, "heads": 2},
    "train": {
        "batch_size": 8,
        "epochs": None,
        "max_steps": 30,
        "val_every_steps": 10,
        "optimizer": {"name": "adamw", "lr": 0.003},
        "schedule": {"name": "cosine", "warmup_steps": 5},
    },
}


def _write(folder: Path, name: str, config: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def spam(sms_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A transformer spam classifier trained with ``batchlab train``: (run directory, stdout)."""
    root = tmp_path_factory.mktemp("spam-cli")
    shutil.copy(sms_slice, root / "sms.tsv")
    _write(root, "spam.yaml", CLASSIFIER)
    done = run_batchlab("train", "spam.yaml", "--run-dir", "run", "--no-plots", cwd=root)
    assert done.code == 0, done.stderr
    return root / "run", done.stdout


@pytest.fixture(scope="module")
def bard(shakespeare_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A character GPT trained with ``batchlab train``: (run directory, stdout)."""
    root = tmp_path_factory.mktemp("bard-cli")
    shutil.copy(shakespeare_slice, root / "shakespeare.txt")
    _write(root, "bard.yaml", LANGUAGE_MODEL)
    done = run_batchlab("train", "bard.yaml", "--run-dir", "run", "--no-plots", cwd=root)
    assert done.code == 0, done.stderr
    return root / "run", done.stdout


# ------------------------------------------------------------------------------------ classification


def test_train_reports_tokens_and_padding_and_writes_a_text_run(spam: tuple[Path, str]) -> None:
    run, stdout = spam
    assert "tokens (vocabulary" in stdout and "classification with 2 classes" in stdout
    assert "padding" in stdout  # the per-epoch table has the padding fraction
    assert "Test: accuracy" in stdout and "Run directory: run" in stdout
    rows = _rows(run / "metrics.csv")
    assert len(rows) == 3 and {"tokens", "pad_fraction", "val_accuracy"} <= set(rows[0])
    assert [int(r["tokens"]) for r in rows] == [int(rows[0]["tokens"]) * e for e in (1, 2, 3)]
    assert all(0 < float(r["pad_fraction"]) < 0.5 for r in rows)
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert {"accuracy", "f1_macro", "f1_per_class", "confusion_matrix"} <= set(metrics)
    assert len(metrics["f1_per_class"]) == 2 and np.array(metrics["confusion_matrix"]).sum() == metrics["samples"]
    saved = json.loads((run / "preprocess.json").read_text())
    assert saved["kind"] == "text" and saved["tokenizer"]["kind"] == "bpe"
    assert json.loads((run / "run.json").read_text())["data_paths_given"] == {"data.source": "sms.tsv"}


def test_evaluate_prints_the_saved_test_metrics(spam: tuple[Path, str], batchlab_cli) -> None:  # type: ignore[no-untyped-def]
    run, _ = spam
    done = batchlab_cli("evaluate", str(run), "--json")
    assert done.code == 0, done.stderr
    again, saved = json.loads(done.stdout), json.loads((run / "test_metrics.json").read_text())
    assert again["confusion_matrix"] == saved["confusion_matrix"]
    assert again["f1_per_class"] == pytest.approx(saved["f1_per_class"])
    assert again["accuracy"] == pytest.approx(saved["accuracy"])


def test_predict_writes_a_label_and_probabilities_per_text_in_input_order(
    spam: tuple[Path, str],
    sms_slice: Path,
    batchlab_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    run, _ = spam
    lines = sms_slice.read_text().splitlines(keepends=True)[:200]
    labels = [line.split("\t", 1)[0] for line in lines]
    (tmp_path / "texts.csv").write_text("".join(line.split("\t", 1)[1] for line in lines))  # texts only
    (tmp_path / "labelled.tsv").write_text("".join(lines))
    done = batchlab_cli("predict", str(run), "texts.csv", "-o", "out.csv")
    assert done.code == 0, done.stderr
    assert "Wrote 200 predictions to out.csv" in done.stdout
    rows = _rows(tmp_path / "out.csv")
    assert list(rows[0]) == ["row", "prediction", "prob_ham", "prob_spam"]
    assert [int(r["row"]) for r in rows] == list(range(1, 201))
    probs = np.array([[float(r["prob_ham"]), float(r["prob_spam"])] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    predicted = [r["prediction"] for r in rows]
    assert predicted == [["ham", "spam"][i] for i in probs.argmax(axis=1)]
    assert set(predicted) == {"ham", "spam"}
    # the same texts with their labels: evaluate's metrics are those of these predictions, row by row
    metrics = batchlab.evaluate(run, tmp_path / "labelled.tsv")
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert metrics["f1_per_class"] == pytest.approx(f1_score(labels, predicted, average=None, labels=["ham", "spam"]))
    assert metrics["f1_macro"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert metrics["confusion_matrix"] == confusion_matrix(labels, predicted, labels=["ham", "spam"]).tolist()


# ---------------------------------------------------------------------------------- language model


def test_a_language_model_logs_bpc_and_tokens_and_evaluates(bard: tuple[Path, str], batchlab_cli) -> None:  # type: ignore[no-untyped-def]
    run, stdout = bard
    assert "language_model" in stdout and "windows of 32 tokens" in stdout and "val_bpc" in stdout
    rows = _rows(run / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [10, 20, 30]
    assert "pad_fraction" not in rows[0] and "val_perplexity" not in rows[0]
    for row in rows:
        assert float(row["val_bpc"]) == pytest.approx(float(row["val_loss"]) / math.log(2))
        assert int(row["tokens"]) == int(row["step"]) * 8 * 32
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    done = batchlab_cli("evaluate", str(run), "--json")
    assert done.code == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["bpc"] == pytest.approx(metrics["loss"] / math.log(2))
    assert metrics == pytest.approx(json.loads((run / "test_metrics.json").read_text()))


def test_generate_prints_the_seeded_sample_after_the_prompt(bard: tuple[Path, str], batchlab_cli) -> None:  # type: ignore[no-untyped-def]
    run, _ = bard
    args = ["generate", str(run), "--prompt", "First Citizen:", "--tokens", "80", "--temperature", "0.8"]
    done = batchlab_cli(*args, "--top-k", "10", "--seed", "3")
    assert done.code == 0, done.stderr
    text = done.stdout.removesuffix("\n")
    assert text.startswith("First Citizen:") and len(text) > len("First Citizen:") + 40
    # the same seed gives the same text in another process; another seed gives another text
    same = batchlab.generate(run, "First Citizen:", tokens=80, temperature=0.8, top_k=10, seed=3)
    assert text == same
    assert batchlab.generate(run, "First Citizen:", tokens=80, temperature=0.8, top_k=10, seed=4) != text


# ------------------------------------------------------------------------------ study and tuning


@pytest.fixture
def bag_config(sms_slice: Path, tmp_path: Path) -> Path:
    shutil.copy(sms_slice, tmp_path / "sms.tsv")
    config = {
        **CLASSIFIER,
        "data": {**CLASSIFIER["data"], "tokenizer": {"kind": "char"}},
        "model": {"name": "bag", "embed": 16},
        "train": {"batch_size": 16, "epochs": 1, "optimizer": {"name": "adam", "lr": 0.03}},
    }
    return _write(tmp_path, "bag.yaml", config)


def test_a_batch_size_study_of_a_text_classifier(batchlab_cli, bag_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = batchlab_cli(
        "study", "batch-size", "bag.yaml", "--sizes", "4,32,full", "--budget", "1epochs", "--study-dir", "study"
    )
    assert done.code == 0, done.stderr
    assert "3 batch sizes x 1 seed = 3 cells" in done.stdout
    cells = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "study").glob("runs/*/cell.json")}
    assert sorted(cells) == ["b32-s0", "b4-s0", "bfull-s0"]
    samples = cells["b4-s0"]["train_samples"]
    assert {name: cell["steps"] for name, cell in cells.items()} == {
        "b4-s0": -(-samples // 4),
        "b32-s0": -(-samples // 32),
        "bfull-s0": 1,
    }
    rows = {name: _rows(tmp_path / "study" / "runs" / name / "metrics.csv")[-1] for name in cells}
    assert len({row["tokens"] for row in rows.values()}) == 1  # one epoch: every training token once
    # one batch of every text pads to the longest; small bucketed batches barely pad
    padding = {name: float(row["pad_fraction"]) for name, row in rows.items()}
    assert padding["b4-s0"] < padding["b32-s0"] < padding["bfull-s0"]


def test_tuning_a_text_classifier_over_the_embedding_width(batchlab_cli, bag_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "space.yaml").write_text("model.embed: {choice: [4, 24]}\n")
    done = batchlab_cli("tune", "bag.yaml", "--space", "space.yaml", "--method", "grid", "--study-dir", "tuned")
    assert done.code == 0, done.stderr
    trials = _rows(tmp_path / "tuned" / "trials.csv")
    assert sorted(int(t["model.embed"]) for t in trials) == [4, 24]
    assert all(t["state"] == "COMPLETE" and 0 < float(t["val_accuracy"]) <= 1 for t in trials)
    parameters = set()
    for trial in trials:
        info = json.loads((tmp_path / trial["run_dir"] / "run.json").read_text())
        assert info["input_spec"]["kind"] == "tokens"
        parameters.add(info["parameters"])
    assert len(parameters) == 2  # each trial built its own width
    best = batchlab.load_config(tmp_path / "tuned" / "best_config.yaml")
    assert best.data.text == "message" and best.model.embed in (4, 24)


# --------------------------------------------------------------------------------- real data (slow)


@pytest.mark.slow
def test_the_sms_config_separates_spam_on_the_whole_file(shared_data: Path, batchlab_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The shipped config's data section with a fast model (the config's own model is the lead's benchmark).
    sets = [
        "model.name=bag",
        "model.embed=64",
        "model.ngrams=1",
        "data.tokenizer.kind=bpe",
        "data.tokenizer.vocab_size=2000",
        "train.optimizer.lr=0.003",
        "train.epochs=6",
    ]
    args = ["train", "configs/sms-spam.yaml", "--run-dir", str(tmp_path / "run"), "-q", "--no-plots"]
    done = batchlab_cli(*args, *[f"--set={item}" for item in sets], cwd=REPO)
    assert done.code == 0, done.stderr
    metrics = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert metrics["samples"] == 836  # 15% of 5,574
    assert metrics["accuracy"] >= 0.97
    assert metrics["f1_per_class"][1] >= 0.9  # spam
