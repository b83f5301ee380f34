"""End to end: ``batchlab study batch-size CONFIG --vary model.norm=...``: one sweep per variant, one table,
overlaid plots and conclusions; resumable; mistakes are one line before anything runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from batchlab.cli import app

pytestmark = pytest.mark.slow


@pytest.fixture
def blobs_config(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = np.array([[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0]])[y] + rng.normal(0.0, 0.8, (200, 3))
    np.savez(tmp_path / "blobs.npz", x=x.astype(np.float32), y=y.astype(np.int64))
    config = {
        "data": {"source": "blobs.npz", "split": {"val": 0.2, "test": 0.2}},
        "model": {"name": "mlp", "hidden": [8], "batchnorm": True, "norm_groups": 4},
        "train": {"batch_size": 4, "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.02, "momentum": 0.0}},
    }
    path = tmp_path / "blobs.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_one_sweep_per_variant_one_table_and_resume(batchlab_cli, blobs_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["study", "batch-size", str(blobs_config), "--sizes", "4,16", "--target", "val_accuracy=0.6"]
    args += ["--budget", "1epochs", "--study-dir", "study"]
    done = batchlab_cli(*args, "--vary", "model.norm=batch,group,none")
    assert done.code == 0, done.stderr
    study = tmp_path / "study"
    for norm in ("batch", "group", "none"):
        folder = study / "variants" / f"model.norm={norm}"
        assert sorted(p.parent.name for p in folder.glob("runs/*/cell.json")) == ["b16-s0", "b4-s0"]
        saved = yaml.safe_load((folder / "runs" / "b4-s0" / "config.yaml").read_text())
        assert saved["model"]["norm"] == norm
    rows = list(csv.DictReader((study / "variants.csv").open()))
    assert sorted((r["variant"], r["batch_size"]) for r in rows) == sorted(
        (n, s) for n in ("batch", "group", "none") for s in ("4", "16")
    )
    for name in ("variants_final_metric.png", "variants_gap.png"):
        assert (study / "plots" / name).stat().st_size > 0
    assert "model.norm by batch size" in done.stdout and "Best final val_accuracy:" in done.stdout
    results = json.loads((study / "variants_results.json").read_text())
    assert set(results["winners"]["final"]) == {"4", "16"} and results["conclusions"]

    # Again with one more value: the finished cells are skipped, the new variant is trained.
    done = batchlab_cli(*args, "--vary", "model.norm=batch,group,none,layer")
    assert done.code == 0, done.stderr
    assert done.stdout.count("finished earlier, skipped") == 6
    record = json.loads((study / "variants.json").read_text())
    assert record["values"] == ["batch", "group", "none", "layer"]
    assert len(list(csv.DictReader((study / "variants.csv").open()))) == 8

    # batchlab report redraws the comparison.
    done = batchlab_cli("report", "study")
    assert done.code == 0, done.stderr
    assert "variant study of" in done.stdout and "layer (2 sizes)" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vary", "model.norm=batch,instance"], "batchlab: error: --vary model.norm=instance: model.norm:"),
        (["--vary", "model.norm"], "batchlab: error: --vary: expected FIELD=VALUE"),
        (["--vary", "model.norm=group,none", "--sizes", "1,4"], None),  # group and none train on one sample
        (
            ["--vary", "model.norm=none,batch", "--sizes", "1,4"],
            "batchlab: error: --sizes: batch size 1 is too small for batch normalization (model.norm=batch",
        ),
    ],
)
def test_mistakes_are_one_line_before_anything_runs(
    blobs_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["study", "batch-size", str(blobs_config), "--study-dir", "study", "--budget", "1epochs"]
    done = CliRunner().invoke(app, [*base, *(args if "--sizes" in args else [*args, "--sizes", "4"])])
    if message is None:
        assert done.exit_code == 0, done.output
        return
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr
    assert not (tmp_path / "study").exists()
