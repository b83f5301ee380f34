"""Commands import only what they use, so that they start quickly (torch alone is about 1 s of CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = """
import json, sys
sys.argv = ["batchlab", *sys.argv[1:]]
from batchlab.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = ["torch", "numpy", "pandas", "pyarrow", "matplotlib", "optuna", "sklearn", "scipy", "PIL"]
print(json.dumps({"code": code, "loaded": [name for name in heavy if name in sys.modules]}), file=sys.stderr)
"""


def _modules_loaded_by(*args: str, cwd: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return set(report["loaded"])


def test_listing_the_datasets_imports_no_numerical_library(tmp_path: Path) -> None:
    loaded = _modules_loaded_by("datasets", cwd=tmp_path)
    assert loaded == set()


def test_the_help_imports_no_numerical_library(tmp_path: Path) -> None:
    assert _modules_loaded_by("--help", cwd=tmp_path) == set()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import batchlab

    run_dir = tmp_path_factory.mktemp("lazy") / "run"
    cfg = {"data": {"source": "digits", "split": {"stratify": True}}, "train": {"epochs": 1, "batch_size": 256}}
    batchlab.fit(cfg, run_dir=run_dir, progress=False, plots=False)
    return run_dir


def test_evaluating_a_digits_run_imports_torch_but_no_plotting_tuning_or_scikit_learn(digits_run: Path) -> None:
    loaded = _modules_loaded_by("evaluate", str(digits_run), cwd=digits_run.parent)
    assert "torch" in loaded  # the model; the check above would catch a probe that ran nothing
    assert loaded.isdisjoint({"matplotlib", "optuna", "sklearn", "scipy"}), loaded
