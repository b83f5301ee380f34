"""Small synthetic tasks for studies: two Gaussian blobs in 4 dimensions (.npz), short labelled texts (.tsv)
and a character corpus (.txt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 samples (180 for training), two classes separated well enough for 95% accuracy."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    centers = np.array([[-1.0, -1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    x = centers[y] + rng.normal(0.0, 0.8, (300, 4))
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64))
    return path


def blob_config(path: Path, **train: object) -> dict[str, object]:
    """An MLP on the blobs with plain SGD set for batch 1 (small steps: the small-batch regime)."""
    return {
        "name": "blobs",
        "data": {"source": str(path), "split": {"val": 0.2, "test": 0.2, "seed": 0}},
        "model": {"name": "mlp", "hidden": [8]},
        "train": {
            "batch_size": 1,
            "epochs": 2,
            "optimizer": {"name": "sgd", "lr": 0.004, "momentum": 0.0},
            "threads": 1,
            **train,
        },
    }


@pytest.fixture(scope="session")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 short labelled texts (header-less TSV, 3-21 words): ``pos`` texts hold one of four positive
    words, ``neg`` texts one of four negative words, among random filler words; 240 for training."""
    rng = np.random.default_rng(0)
    positive, negative = ["good", "great", "fine", "nice"], ["bad", "awful", "poor", "sad"]
    filler = [
        "the",
        "a",
        "of",
        "to",
        "and",
        "in",
        "it",
        "is",
        "was",
        "for",
        "on",
        "with",
        "as",
        "at",
        "by",
        "this",
        "that",
        "from",
    ]
    lines = []
    for i in range(400):
        label = i % 2
        words = [str(w) for w in rng.choice(filler, size=int(rng.integers(2, 21)))]
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(positive if label else negative)))
        lines.append(f"{'pos' if label else 'neg'}\t{' '.join(words)}")
    path = tmp_path_factory.mktemp("text") / "texts.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def text_config(path: Path, **train: object) -> dict[str, object]:
    """A bag-of-embeddings classifier on the texts (word tokens), Adam, 2 epochs by default."""
    return {
        "name": "texts",
        "data": {
            "source": str(path),
            "header": False,
            "columns": ["label", "text"],
            "text": "text",
            "target": "label",
            "tokenizer": {"kind": "word"},
            "split": {"val": 0.2, "test": 0.2, "seed": 0},
        },
        "model": {"name": "bag", "embed": 16},
        "train": {"batch_size": 16, "epochs": 2, "optimizer": {"name": "adam", "lr": 0.01}, "threads": 1, **train},
    }


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A character corpus of about 6,000 characters for a language model (``.txt``)."""
    rng = np.random.default_rng(1)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler"]
    text = " ".join(str(w) for w in rng.choice(words, size=1400))
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(text + "\n")
    return path


def corpus_config(path: Path, **train: object) -> dict[str, object]:
    """A tiny character GPT on the corpus, context 16."""
    return {
        "name": "corpus",
        "data": {"source": str(path), "tokenizer": {"kind": "char"}, "context": 16, "split": {"val": 0.1, "test": 0.1}},
        "model": {"name": "gpt", "embed": 16, "layers": 1, "heads": 2},
        "train": {"batch_size": 8, "epochs": 1, "optimizer": {"name": "adam", "lr": 0.003}, "threads": 1, **train},
    }
