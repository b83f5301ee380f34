"""Beside a batch-size sweep, the conclusions put the Hessian-aware estimates next to the fitted knee."""

from __future__ import annotations

import re

from batchlab.study.hessian_summary import hessian_summary
from batchlab.study.results import analyze_study
from batchlab.study.targets import parse_target
from tests.report.conftest import SEEDS, SIZES, study_cell


def test_the_conclusions_give_each_estimate_with_its_interval_and_ratio_to_the_knee() -> None:
    cells = [study_cell(size, seed) for size in SIZES for seed in SEEDS]
    target = parse_target("val_accuracy=0.95")
    plain = analyze_study(cells, target)
    assert plain.fit is not None and plain.fit.status == "fit"
    measured = {
        "step": 40,
        "at_target": True,
        "samples": 256,
        "groups": 32,
        "b_simple": 120.0,
        "b_noise": 60.0,
        "b_temperature": 300.0,
        "lr": 0.05,
        "eps_max": 0.3,
        "grad_h_grad": 1.5,
        "intervals": {"b_simple": [90.0, 150.0], "b_noise": [40.0, 80.0], "b_temperature": [200.0, 400.0]},
    }
    summary = hessian_summary({"hessian": {"measurements": [measured]}}, target_step=40)
    analysis = analyze_study(cells, target, {"hessian": summary})
    line = next(c for c in analysis.conclusions if c.startswith("Hessian-aware noise scale"))
    b_crit = plain.fit.b_crit
    assert f"B_noise ≈ 60 [40–80], {60 / b_crit:.2f} x B_crit" in line
    assert f"batch at the trained rate ≈ 300 [200–400], {300 / b_crit:.2f} x B_crit" in line
    assert re.search(r"B_simple ≈ 120 \[90–150\], [0-9.]+ x B_crit", line)
    assert not any(c.startswith("Hessian-aware") for c in plain.conclusions)  # nothing without a measurement
