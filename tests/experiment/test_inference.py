"""Predicting and evaluating image folders: new images of another size or colour mode are converted to what
the model was trained on, since ``predict`` and ``evaluate`` take no config overrides."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from batchlab.cli import app

runner = CliRunner()


def _shapes(root: Path, *, classes: dict[str, int], count: int, size: tuple[int, int], mode: str, seed: int) -> None:
    """``count`` images per class: a bright square whose corner depends on the class, on noise."""
    rng = np.random.default_rng(seed)
    height, width = size
    for label, corner in classes.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
            rows = slice(0, height // 2) if corner == 0 else slice(height // 2, height)
            pixels[rows, : width // 2] = 230
            Image.fromarray(pixels).convert(mode).save(root / label / f"{i:02d}.png")


def _predictions(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    _shapes(root / "train", classes={"top": 0, "bottom": 1}, count=20, size=(8, 8), mode="L", seed=0)
    (root / "c.yaml").write_text(
        f"data: {{source: '{root / 'train'}', split: {{val: 0.2, test: 0.2}}}}\n"
        "model: {hidden: [16]}\ntrain: {epochs: 3, batch_size: 8}\n"
    )
    done = runner.invoke(app, ["train", str(root / "c.yaml"), "--run-dir", str(root / "run"), "-q"])
    assert done.exit_code == 0, done.output
    return root


def test_predict_converts_new_images_to_the_trained_size_and_channels(image_run: Path) -> None:
    root = image_run
    _shapes(root / "big", classes={"top": 0, "bottom": 1}, count=4, size=(20, 14), mode="RGB", seed=1)
    # The same images as the model saw its training images: grayscale and 8 x 8 (bilinear).
    for path in sorted((root / "big").rglob("*.png")):
        small = root / "small" / path.relative_to(root / "big")
        small.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.convert("L").resize((8, 8), Image.Resampling.BILINEAR).save(small)
    for name in ("big", "small"):
        done = runner.invoke(app, ["predict", str(root / "run"), str(root / name), "-o", str(root / f"{name}.csv")])
        assert done.exit_code == 0, done.output
        assert "Wrote 8 predictions" in done.output
    big, small = _predictions(root / "big.csv"), _predictions(root / "small.csv")
    assert [r["file"] for r in big] == [r["file"] for r in small]
    assert [r["prediction"] for r in big] == [r["prediction"] for r in small]
    for a, b in zip(big, small, strict=True):
        assert float(a["prob_top"]) == pytest.approx(float(b["prob_top"]), abs=1e-6)


def test_evaluate_reads_a_folder_of_mixed_sizes(image_run: Path) -> None:
    root = image_run
    _shapes(root / "mixed", classes={"top": 0}, count=3, size=(12, 12), mode="RGB", seed=2)
    _shapes(root / "mixed", classes={"bottom": 1}, count=3, size=(9, 16), mode="L", seed=3)
    done = runner.invoke(app, ["evaluate", str(root / "run"), "--data", str(root / "mixed")])
    assert done.exit_code == 0, done.output
    assert "(6 samples)" in done.output
    assert "image_size" not in done.output
