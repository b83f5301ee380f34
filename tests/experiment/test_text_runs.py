"""Text runs through the Python API: every tokenizer trains, metrics match scikit-learn, predictions keep
their rows, token and padding counts are exact, language models report bpc or perplexity and generate.

The data are small slices of the real SMS Spam Collection and Tiny Shakespeare (see ``tests/conftest.py``),
so each run takes a second or two.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

import batchlab
from batchlab.config import make_config
from batchlab.data.text.corpus import split_corpus
from batchlab.experiment.builder import build_run


def classifier_config(source: Path, *, kind: str = "char", **train: Any) -> dict[str, Any]:
    """A bag-of-embeddings spam classifier on the SMS slice: learns in a couple of epochs."""
    return {
        "name": "sms",
        "data": {
            "source": str(source),
            "header": False,
            "columns": ["label", "message"],
            "text": "message",
            "target": "label",
            "tokenizer": {"kind": kind, "vocab_size": 400},
            "max_length": 96,
        },
        "model": {"name": "bag", "embed": 32},
        "train": {"batch_size": 16, "epochs": 3, "optimizer": {"name": "adam", "lr": 0.03}, **train},
    }


def lm_config(source: Path, *, kind: str = "char", **train: Any) -> dict[str, Any]:
    """A one-layer GPT on the Shakespeare slice, validated every 10 steps."""
    return {
        "name": "shakespeare",
        "data": {
            "source": str(source),
            "task": "language_model",
            "context": 32,
            "split": {"val": 0.1, "test": 0.1},
            "tokenizer": {"kind": kind, "vocab_size": 300},
        },
        "model": {"name": "gpt", "embed": 32, "layers": 1, "heads": 2},
        "train": {
            "batch_size": 8,
            "epochs": None,
            "max_steps": 20,
            "val_every_steps": 10,
            "optimizer": {"name": "adamw", "lr": 0.003},
            **train,
        },
    }


def fit(config: dict[str, Any], run_dir: Path) -> batchlab.RunResult:
    return batchlab.fit(config, run_dir=run_dir, progress=False, plots=False)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def spam_run(sms_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> batchlab.RunResult:
    return fit(classifier_config(sms_slice), tmp_path_factory.mktemp("spam") / "run")


@pytest.fixture(scope="module")
def char_lm(shakespeare_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> batchlab.RunResult:
    return fit(lm_config(shakespeare_slice), tmp_path_factory.mktemp("lm") / "run")


# ------------------------------------------------------------------------------------ tokenizers


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_each_tokenizer_trains_a_classifier_and_a_language_model(
    kind: str, sms_slice: Path, shakespeare_slice: Path, tmp_path: Path
) -> None:
    spam = fit(classifier_config(sms_slice, kind=kind, epochs=2), tmp_path / "spam")
    lm = fit(lm_config(shakespeare_slice, kind=kind), tmp_path / "lm")
    for result in (spam, lm):
        saved = json.loads((result.run_dir / "preprocess.json").read_text())
        assert saved["tokenizer"]["kind"] == kind
        assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # language models: nats per token, and bits per character for characters, else perplexity
    for row in lm.history:
        if kind == "char":
            assert row["val_bpc"] == pytest.approx(row["val_loss"] / math.log(2))
            assert "val_perplexity" not in row
        else:
            assert row["val_perplexity"] == pytest.approx(math.exp(row["val_loss"]))
            assert "val_bpc" not in row
    assert lm.test_metrics is not None
    assert ("bpc" if kind == "char" else "perplexity") in lm.test_metrics


# ---------------------------------------------------------------------------------- classification


def test_test_metrics_are_scikit_learns_on_the_predicted_labels(
    spam_run: batchlab.RunResult, sms_slice: Path, tmp_path: Path
) -> None:
    labelled = tmp_path / "more.tsv"
    lines = sms_slice.read_text().splitlines(keepends=True)
    labelled.write_text("".join(lines[:300]))
    labels = [line.split("\t", 1)[0] for line in lines[:300]]
    texts = tmp_path / "texts.tsv"
    texts.write_text("".join(line.split("\t", 1)[1] for line in lines[:300]))

    metrics = batchlab.evaluate(spam_run.run_dir, labelled)
    batchlab.predict(spam_run.run_dir, texts, tmp_path / "out.csv")
    predicted = [row["prediction"] for row in read_rows(tmp_path / "out.csv")]
    assert len(predicted) == 300 and set(predicted) == {"ham", "spam"}  # the classifier is not constant
    classes = ["ham", "spam"]
    assert metrics["samples"] == 300
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert metrics["f1_per_class"] == pytest.approx(f1_score(labels, predicted, average=None, labels=classes))
    assert metrics["f1_macro"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert metrics["confusion_matrix"] == confusion_matrix(labels, predicted, labels=classes).tolist()


def test_evaluating_the_run_again_gives_its_test_metrics(spam_run: batchlab.RunResult) -> None:
    saved = json.loads((spam_run.run_dir / "test_metrics.json").read_text())
    again = batchlab.evaluate(spam_run.run_dir)
    assert again.keys() == saved.keys()
    assert {"accuracy", "f1_macro", "f1_per_class", "confusion_matrix"} <= set(saved)
    assert again["confusion_matrix"] == saved["confusion_matrix"]
    for name, value in saved.items():
        if name != "confusion_matrix":
            assert again[name] == pytest.approx(value)


def test_predictions_keep_the_input_order_and_name_the_row_of_each_text(
    spam_run: batchlab.RunResult, sms_slice: Path, tmp_path: Path
) -> None:
    texts = [line.split("\t", 1)[1] for line in sms_slice.read_text().splitlines()[:40]]
    texts[5] = "NA"  # a missing text is left out (with a warning), and the rows say which one
    (tmp_path / "forward.txt").write_text("\n".join(texts) + "\n")
    (tmp_path / "backward.txt").write_text("\n".join(reversed(texts)) + "\n")
    batchlab.predict(spam_run.run_dir, tmp_path / "forward.txt", tmp_path / "forward.csv")
    batchlab.predict(spam_run.run_dir, tmp_path / "backward.txt", tmp_path / "backward.csv")
    forward, backward = read_rows(tmp_path / "forward.csv"), read_rows(tmp_path / "backward.csv")
    assert list(forward[0]) == ["row", "prediction", "prob_ham", "prob_spam"]
    assert [int(r["row"]) for r in forward] == [i for i in range(1, 41) if i != 6]
    probs = np.array([[float(r["prob_ham"]), float(r["prob_spam"])] for r in forward])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert [r["prediction"] for r in forward] == [["ham", "spam"][i] for i in probs.argmax(axis=1)]
    # the same texts in reverse order get the same probabilities, in reverse (padding changes nothing)
    reverse = np.array([[float(r["prob_ham"]), float(r["prob_spam"])] for r in backward])
    np.testing.assert_allclose(reverse[::-1], probs, atol=1e-5)


def test_tokens_and_pad_fraction_are_exact_counts_of_the_training_batches(
    spam_run: batchlab.RunResult,
) -> None:
    parts = spam_run.parts
    assert parts is not None
    train_tokens = int(parts.data.train.x.lengths.sum())
    rows = read_rows(spam_run.run_dir / "metrics.csv")
    assert len(rows) == 3
    for epoch, row in enumerate(rows):
        assert int(row["tokens"]) == (epoch + 1) * train_tokens  # every training token once per epoch
        valid, padded = parts.train.padding(epoch)  # type: ignore[attr-defined]
        assert float(row["pad_fraction"]) == pytest.approx(1 - valid / padded)
        assert 0 < float(row["pad_fraction"]) < 0.5


def test_length_bucketing_pads_less_than_batches_in_drawn_order(sms_slice: Path) -> None:
    def padding(bucket: bool) -> float:
        parts = build_run(make_config(classifier_config(sms_slice, bucket=bucket)))
        valid, padded = parts.train.padding(0)  # type: ignore[attr-defined]
        return (padded - valid) / padded

    assert padding(True) < padding(False) / 3


def test_early_stopping_ends_a_text_run_and_restores_the_best_epoch(sms_slice: Path, tmp_path: Path) -> None:
    stopping = {"monitor": "val_accuracy", "patience": 2, "min_delta": 1.0}  # nothing improves by 1.0
    result = fit(classifier_config(sms_slice, epochs=10, early_stopping=stopping), tmp_path / "run")
    assert result.stop_reason.startswith("early stopping")
    assert len(result.history) == 3 and result.best_epoch == 1


def test_a_custom_module_trains_on_padded_texts(sms_slice: Path, tmp_path: Path) -> None:
    class MeanEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(200, 16, padding_idx=0)
            self.out = torch.nn.Linear(16, 1)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            summed = self.embed(x).sum(dim=1)  # padding ids embed to zeros
            return self.out(summed / lengths.unsqueeze(1))

    config = classifier_config(sms_slice)
    result = batchlab.fit(config, model=MeanEmbedding(), run_dir=tmp_path / "run", progress=False, plots=False)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    (tmp_path / "texts.txt").write_text("Free entry! Text WIN to 80086 now\nsee you at lunch\n")
    assert batchlab.predict(result.run_dir, tmp_path / "texts.txt", tmp_path / "out.csv", model=MeanEmbedding()) == 2


# ---------------------------------------------------------------------------------- language models


def test_language_model_rows_count_tokens_and_have_no_padding(char_lm: batchlab.RunResult) -> None:
    rows = read_rows(char_lm.run_dir / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [10, 20]
    assert "pad_fraction" not in rows[0]
    for row in rows:
        assert int(row["tokens"]) == int(row["step"]) * 8 * 32  # batch x context per step


def test_evaluate_reads_a_text_file_in_windows_like_the_test_section(
    char_lm: batchlab.RunResult, shakespeare_slice: Path, tmp_path: Path
) -> None:
    _, _, test_text = split_corpus(shakespeare_slice.read_text(), val=0.1, test=0.1)
    (tmp_path / "tail.txt").write_text(test_text)
    on_file = batchlab.evaluate(char_lm.run_dir, tmp_path / "tail.txt")
    on_split = batchlab.evaluate(char_lm.run_dir)
    assert on_file["samples"] == on_split["samples"] > 0
    assert on_file["loss"] == pytest.approx(on_split["loss"])
    assert on_file["bpc"] == pytest.approx(on_file["loss"] / math.log(2))


def test_generation_is_deterministic_per_seed_and_starts_with_the_prompt(char_lm: batchlab.RunResult) -> None:
    run = char_lm.run_dir
    first = batchlab.generate(run, "First Citizen:", tokens=60, seed=0)
    assert first.startswith("First Citizen:") and len(first) > len("First Citizen:")
    assert batchlab.generate(run, "First Citizen:", tokens=60, seed=0) == first
    assert batchlab.generate(run, "First Citizen:", tokens=60, seed=1) != first
    greedy = [batchlab.generate(run, "First", tokens=20, temperature=0.0, seed=s) for s in (0, 1)]
    assert greedy[0] == greedy[1]  # greedy decoding draws no random numbers


def test_a_word_model_gives_the_prompt_back_as_typed(shakespeare_slice: Path, tmp_path: Path) -> None:
    config = lm_config(shakespeare_slice, kind="word", max_steps=5, val_every_steps=None)
    config["data"]["tokenizer"]["vocab_size"] = 2000
    result = fit(config, tmp_path / "run")
    prompt = "First Citizen:  Before we proceed"  # word tokens would decode it as "First Citizen : Before ..."
    text = batchlab.generate(result.run_dir, prompt, tokens=8, seed=0)
    assert text.startswith(prompt + " ")
    assert len(text[len(prompt) :].split()) <= 8


# ------------------------------------------------------------------------------- the shipped configs


def test_the_example_configs_build_on_the_real_files(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)  # the configs name ../shared/data relative to the repository
    spam = build_run(batchlab.load_config(REPO / "configs" / "sms-spam.yaml"))
    assert spam.data.classes == ["ham", "spam"]
    assert (len(spam.data.train), len(spam.data.val), len(spam.data.test)) == (3902, 836, 836)  # 70/15/15 of 5,574
    spam_share = [float((split.y == 1).float().mean()) for split in (spam.data.train, spam.data.val, spam.data.test)]
    assert max(spam_share) - min(spam_share) < 0.005  # stratified
    gpt = build_run(batchlab.load_config(REPO / "configs" / "shakespeare-char.yaml"))
    assert gpt.data.task == "language_model" and gpt.data.input_spec.max_length == 64
    assert gpt.data.input_spec.vocab_size == 65 + 4  # the characters of the head, and the special tokens
    assert len(gpt.data.train) == 1_003_855 and len(gpt.data.val) == 111_539  # 90% / 10% of the characters
    assert gpt.info["parameters"] == pytest.approx(0.8e6, rel=0.05)
    assert gpt.optimizer.__class__.__name__ == "AdamW" and gpt.settings.val_every_steps is not None


def test_bucketing_pads_a_third_of_random_batching_on_the_sms_file(shared_data: Path) -> None:
    config = {
        "data": {
            "source": str(shared_data / "sms-spam" / "SMSSpamCollection"),
            "header": False,
            "columns": ["label", "message"],
            "text": "message",
            "target": "label",
            "max_length": None,
        },
        "model": {"name": "bag"},
        "train": {"batch_size": 32},
    }

    def padded_tokens(bucket: bool) -> int:
        batches = build_run(make_config(config, [f"train.bucket={str(bucket).lower()}"])).train
        valid, padded = batches.padding(0)  # type: ignore[attr-defined]
        return padded - valid

    assert padded_tokens(True) <= padded_tokens(False) / 3


def test_a_language_model_keeps_the_weights_of_its_lowest_val_bpc(shakespeare_slice: Path, tmp_path: Path) -> None:
    config = lm_config(shakespeare_slice, early_stopping={"monitor": "val_bpc", "patience": 10})
    result = fit(config, tmp_path / "run")
    values = [row["val_bpc"] for row in result.history]
    assert len(set(values)) == len(values) > 1
    best = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())
    assert best["monitor"] == "val_bpc" and best["value"] == pytest.approx(min(values))  # bits: lower is better


def test_tuning_a_language_model_minimizes_its_val_bpc(shakespeare_slice: Path, tmp_path: Path) -> None:
    from batchlab.errors import ConfigError
    from batchlab.tune.runner import run_study
    from batchlab.tune.settings import make_settings
    from batchlab.tune.space import parse_space

    config = make_config(lm_config(shakespeare_slice, max_steps=10, val_every_steps=None))
    space = parse_space({"train.optimizer.lr": {"choice": [0.0003, 0.01]}})
    with pytest.raises(ConfigError, match="--metric val_accuracy: .* they log train_loss, val_loss, val_bpc$"):
        run_study(make_settings(config, space, method="grid", study_dir=tmp_path / "wrong"))
    settings = make_settings(config, space, method="grid", metric="val_bpc", study_dir=tmp_path / "study")
    assert settings.direction == "minimize"
    outcome = run_study(settings)
    values = [row.value for row in outcome.rows]
    assert outcome.best is not None and len(values) == 2 and outcome.best.value == min(values) < max(values)
