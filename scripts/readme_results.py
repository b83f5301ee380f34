"""Regenerate the README's demo output and results table from real runs, so that neither can go stale.

    .venv/bin/python scripts/readme_results.py              # both (about two minutes on 2 cores)
    .venv/bin/python scripts/readme_results.py --only demo  # the demo block only (about 10 s)

The demo block (between ``<!-- demo:begin -->`` and ``<!-- demo:end -->``) is what
``batchlab train configs/digits.yaml`` prints when run in an empty folder, its epoch rows between the
second and the last elided. The results table (between ``<!-- results:begin -->`` and
``<!-- results:end -->``) has the test metrics and the wall time of each shipped config, trained from the
repository root as the README says (the real datasets are read from ``../shared/data``). Runs go to a
temporary folder; the output is read from a pipe, as in a log. ``tests/test_readme.py`` checks that the
demo block has the shape of what ``train`` prints now.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEMO = ("<!-- demo:begin -->", "<!-- demo:end -->")
RESULTS = ("<!-- results:begin -->", "<!-- results:end -->")
DEMO_COMMAND = "batchlab train configs/digits.yaml"
_ROW = re.compile(r"^\s+\d+\s")  # an epoch row of the progress table


def train(config: Path, cwd: Path, *args: str) -> tuple[str, float, Path]:
    """Run ``batchlab train CONFIG ARGS`` in ``cwd`` with its output in a pipe.

    Returns:
        What it printed, its wall time in seconds, and its run directory.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONWARNINGS"] = "ignore"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "batchlab", "train", str(config), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"batchlab train {config} failed ({done.returncode}):\n{done.stderr}")
    found = re.search(r"^Run directory: (.+)$", done.stdout, re.MULTILINE)
    if found is None:
        raise SystemExit(f"batchlab train {config} printed no run directory:\n{done.stdout}")
    return done.stdout, seconds, cwd / found.group(1)


def demo_block(stdout: str, command: str = DEMO_COMMAND) -> str:
    """The README's demo block from what ``train`` printed: the first two epoch rows, ``...``, the last."""
    lines = stdout.rstrip("\n").splitlines()
    rows = [i for i, line in enumerate(lines) if _ROW.match(line)]
    if len(rows) > 3:
        first = lines[rows[0]]
        width = len(first) - len(first.lstrip()) + len(first.split()[0])  # "..." right-aligned like the epoch
        lines = [*lines[: rows[2]], "...".rjust(width), *lines[rows[-1] :]]
    return "\n".join(["```", f"$ {command}", *lines, "```"])


def shape(text: str) -> list[str]:
    """``text`` line by line with every number, date and path replaced, to compare formats, not values."""
    out = []
    for line in text.strip().splitlines():
        line = re.sub(r"runs/\S+", "RUN", line)
        line = re.sub(r"\d[\d,]*(\.\d+)?(e[+-]?\d+)?", "N", line)
        out.append(" ".join(line.split()))
    return out


@dataclass(frozen=True)
class Shipped:
    """A shipped config and how its results row describes it."""

    config: str
    data: str
    result: Callable[[dict[str, Any], dict[str, Any]], str]


def _classification(held_out: bool = False) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    def text(metrics: dict[str, Any], info: dict[str, Any]) -> str:
        out = f"accuracy **{metrics['accuracy']:.3f}**, macro F1 {metrics['f1_macro']:.3f}"
        if held_out:
            out += f" on the held-out {info['test_samples']:,}"
        if str(info.get("stop_reason", "")).startswith("early stopping"):
            out += f" (stopped early at epoch {info['epochs_run']}, best {info['best_epoch']})"
        return out

    return text


def _regression(mae: Callable[[float], str]) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    def text(metrics: dict[str, Any], info: dict[str, Any]) -> str:
        out = f"R² **{metrics['r2']:.3f}**, MAE {mae(metrics['mae'])}"
        if str(info.get("stop_reason", "")).startswith("early stopping"):
            out += f" (stopped early at epoch {info['epochs_run']})"
        return out

    return text


SHIPPED = [
    Shipped("digits", "digits, 1,797 8×8 images, MLP, batch 32", _classification()),
    Shipped("adult", "UCI Adult, 32,561 rows, 8 categorical columns, `?` missing", _classification()),
    Shipped(
        "mnist-cnn",
        "MNIST test split (IDX), 10,000 28×28 images, CNN + crop/rotate augmentation",
        _classification(held_out=True),
    ),
    Shipped(
        "wine-quality", "red wine quality, 1,599 rows, regression", _regression(lambda v: f"{v:.3f} quality points")
    ),
    Shipped(
        "housing",
        "California housing, 20,640 rows, regression with a categorical column and missing values",
        _regression(lambda v: f"${v:,.0f}"),
    ),
]


def results_row(shipped: Shipped, run_dir: Path, seconds: float) -> str:
    metrics = json.loads((run_dir / "test_metrics.json").read_text(encoding="utf-8"))
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return f"| `configs/{shipped.config}.yaml` | {shipped.data} | {shipped.result(metrics, info)} | {seconds:.0f} s |"


def replace_between(text: str, markers: tuple[str, str], content: str) -> str:
    begin, end = markers
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md lacks the markers {begin} ... {end}")
    return pattern.sub(lambda _: f"{begin}\n{content}\n{end}", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["demo", "results"], help="regenerate one of the two blocks")
    only = parser.parse_args().only
    text = README.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="batchlab-readme-") as folder:
        root = Path(folder)
        (root / "demo").mkdir()
        stdout, seconds, run_dir = train(REPO / "configs" / "digits.yaml", root / "demo")
        if only != "results":
            text = replace_between(text, DEMO, demo_block(stdout))
            print(f"demo: {seconds:.1f} s")
        if only != "demo":
            rows = ["| config | data | test result | wall time |", "|---|---|---|---|"]
            rows.append(results_row(SHIPPED[0], run_dir, seconds))
            for shipped in SHIPPED[1:]:
                config = Path("configs") / f"{shipped.config}.yaml"
                _, seconds, run_dir = train(config, REPO, "--run-dir", str(root / shipped.config), "-q")
                rows.append(results_row(shipped, run_dir, seconds))
                print(f"{shipped.config}: {seconds:.1f} s")
            text = replace_between(text, RESULTS, "\n".join(rows))
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
