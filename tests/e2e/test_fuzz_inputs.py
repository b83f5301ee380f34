"""Property-based: any config and any small CSV end in a valid run or one line `batchlab: error: ...`.

Never a traceback, never exit codes other than 0 and 2, never a half-written run directory.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from batchlab.cli import app

runner = CliRunner()
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

junk = st.one_of(
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(-1, 3), max_size=2),
)
batch_sizes = st.one_of(st.integers(-2, 400), st.just("full"), st.just("half"), st.floats(0, 3), st.booleans())
fractions = st.one_of(st.floats(-0.2, 1.2), st.just(0.0), junk)
sections = st.fixed_dictionaries(
    {},
    optional={
        "data": st.fixed_dictionaries(
            {},
            optional={
                "source": st.sampled_from(["digits", "iris", "wine", "digitz", "nope.csv", "data.csv"]),
                "split": st.fixed_dictionaries({}, optional={"val": fractions, "test": fractions, "seed": junk}),
                "scale": st.sampled_from(["standard", "minmax", "none", "log"]),
                "augment": st.sampled_from([[], ["hflip"], ["flip"], [{"crop": {"padding": 1}}]]),
                "missing": st.sampled_from(["impute", "error", "drop"]),
                "target": st.sampled_from(["target", "y", "c", None]),
            },
        ),
        "model": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["mlp", "cnn", "resnet"]),
                "hidden": st.one_of(st.lists(st.integers(-1, 16), max_size=2), junk),
                "dropout": fractions,
                "batchnorm": st.one_of(st.booleans(), junk),
            },
        ),
        "train": st.fixed_dictionaries(
            {"epochs": st.one_of(st.integers(-1, 2), junk)},
            optional={
                "batch_size": batch_sizes,
                "optimizer": st.fixed_dictionaries(
                    {},
                    optional={
                        "name": st.sampled_from(["sgd", "adam", "adamw", "rmsprop", "adma"]),
                        "lr": st.one_of(st.floats(-1, 5), junk),
                        "momentum": fractions,
                    },
                ),
                "schedule": st.fixed_dictionaries(
                    {},
                    optional={
                        "name": st.sampled_from(["constant", "cosine", "onecycle", "linear"]),
                        "warmup_steps": junk,
                    },
                ),
                "accumulate": st.one_of(st.integers(-1, 3), junk),
                "early_stopping": st.fixed_dictionaries(
                    {}, optional={"monitor": st.sampled_from(["val_loss", "val_accuracy", "val_f1", "train_loss"])}
                ),
                "batch_sise": st.integers(1, 3),
            },
        ),
    },
)

cells = st.one_of(
    st.integers(-100, 100).map(str),
    st.floats(-10, 10).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["", "?", "NA", "inf", "-inf", "nan", "red", "blue", "a,b", '"q"', " 7 "]),
)


def _check(config: dict[str, Any], csv_text: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if csv_text is not None:
            (root / "data.csv").write_text(csv_text)
        (root / "config.yaml").write_text(yaml.safe_dump(config))
        run_dir = root / "run"
        import os

        cwd = os.getcwd()
        os.chdir(root)
        try:
            result = runner.invoke(app, ["train", "config.yaml", "--run-dir", str(run_dir), "-q", "--no-plots"])
        finally:
            os.chdir(cwd)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code in (0, 2), (result.exit_code, result.output)
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            # warnings may come first (e.g. rows dropped for a missing target); the error is one line
            lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
            assert len(lines) == 1 and lines[0].startswith("batchlab: error: "), result.stderr
            if "diverged" in lines[0]:  # a diverged run keeps what it did, marked as such
                assert json.loads((run_dir / "run.json").read_text())["status"] == "diverged"
            else:
                assert not run_dir.exists(), f"half-written run directory after: {lines[0]}"
        else:
            for name in ("config.yaml", "run.json", "model.safetensors", "preprocess.json", "metrics.csv"):
                assert (run_dir / name).exists(), name
            assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
        shutil.rmtree(run_dir, ignore_errors=True)


@FUZZ
@given(sections)
def test_any_config_ends_in_a_run_or_one_line_error(config: dict[str, Any]) -> None:
    data = config.setdefault("data", {})
    if data.get("source") == "data.csv":
        data["source"] = "iris"
    _check(config)


@FUZZ
@given(
    header=st.lists(st.sampled_from(["a", "b", "c", "y", "", "a"]), min_size=1, max_size=4),
    rows=st.lists(st.lists(cells, min_size=1, max_size=5), max_size=40),
    sep=st.sampled_from([",", ";", "\t"]),
    target=st.sampled_from(["y", "c", None]),
    missing=st.sampled_from(["impute", "error"]),
)
def test_any_small_csv_ends_in_a_run_or_one_line_error(
    header: list[str], rows: list[list[str]], sep: str, target: str | None, missing: str
) -> None:
    text = sep.join(header) + "\n" + "".join(sep.join(row) + "\n" for row in rows)
    config = {
        "data": {"source": "data.csv", "target": target, "missing": missing, "split": {"val": 0.2, "test": 0.2}},
        "train": {"epochs": 1, "batch_size": 4},
    }
    _check(config, text)
