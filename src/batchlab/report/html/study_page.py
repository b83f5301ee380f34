"""The HTML report of a batch-size study (or a noise-scale study): the settings, the table by batch size,
the conclusions, the critical-batch fit, and the plots (steps and samples to the target with the fitted
curve and ``B_crit``, time to the target, final metric, learning curves, throughput and memory, noise
scale)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from batchlab.plural import counted
from batchlab.report.html.page import Code, Facts, Page, Section, Text, cell, image_from_file, table_from_rich
from batchlab.report.study_plots import plot_learning_curves_by_size, plot_noise_scale, plot_study
from batchlab.report.study_summary import study_table
from batchlab.study.directory import StudyDirectory
from batchlab.study.hessian_summary import above_optimum, negative_curvature
from batchlab.study.noise_run import noise_cell, noise_summary, read_noise
from batchlab.study.results import StudyAnalysis, analyze_study
from batchlab.study.targets import Target

__all__ = ["study_page"]

_CAPTIONS = {
    "steps_to_target.png": "Steps and samples to the target against batch size (log-log), with perfect scaling "
    "and the fitted curve S = S_min + E_min / B; the dotted line is B_crit = E_min / S_min.",
    "time_to_target.png": "Training seconds to the target (evaluation excluded).",
    "final_metric.png": "Final and best validation metric by batch size.",
    "learning_curves.png": "The validation metric of every cell against steps, samples and seconds.",
    "throughput_memory.png": "Training throughput and peak memory by batch size.",
    "noise_scale.png": "The gradient noise scale B_simple over training (and B_noise where measured).",
}


def study_page(path: str | Path) -> Page:
    """The report of the study directory ``path`` (it holds ``study.json``).

    Raises:
        CheckpointError: ``study.json`` is missing or unreadable.
    """
    directory = StudyDirectory(path)
    study = directory.read()
    target = Target(**study["target"]) if study.get("target") else None
    kind = str(study.get("kind", "batch-size"))
    noise = read_noise(directory.path)
    noise_info = noise_summary(noise, target) if noise else None
    if kind == "noise-scale":
        run = noise_cell(noise) if noise is not None else None
        cells = [run] if run is not None else []
    else:
        cells = directory.cells() if kind != "max-batch" else []
    analysis = analyze_study(cells, target, noise_info if kind == "batch-size" else None)
    expected = len(study.get("sizes", [])) * len(study.get("seeds", []))
    done = (
        f"{len(cells)} of {counted(expected, 'cell')} finished" if kind == "batch-size" else counted(len(cells), "run")
    )
    page = Page(
        title=f"{kind.capitalize()} study {study.get('name')!s}",
        subtitle=f"{directory.path.name}: {done}" + (f", target {target}" if target else ""),
        kind="study",
    )
    page.sections.append(_settings(study, target, analysis))
    if cells:
        note = "Mean ± std over seeds."
        page.sections.append(
            Section("Results by batch size", "table", [table_from_rich(study_table(analysis), note=note)])
        )
    if analysis.conclusions and kind == "batch-size" and cells:
        page.sections.append(Section("Conclusions", "conclusions", [Text(items=tuple(analysis.conclusions))]))
    if analysis.fit is not None:
        page.sections.append(_critical(analysis))
    with tempfile.TemporaryDirectory(prefix="batchlab-report-") as scratch:
        figures = Path(scratch)
        drawn: list[Path] = []
        if cells and kind == "batch-size":
            drawn = plot_study(analysis, cells, figures)
        elif cells:
            curves = plot_learning_curves_by_size(cells, analysis, figures / "learning_curves.png")
            drawn = [curves] if curves is not None else []
        if noise is not None:
            b_crit = analysis.fit.b_crit if analysis.fit is not None and analysis.fit.status == "fit" else None
            in_tokens = analysis.unit == "tokens" and noise_info is not None and noise_info.get("tokens_per_sample")
            picture = plot_noise_scale(
                noise,
                figures / "noise_scale.png",
                b_crit=b_crit,
                target_step=noise_info.get("target_step") if noise_info else None,
                tokens_per_sample=float(noise_info["tokens_per_sample"]) if in_tokens and noise_info else None,
            )
            if picture is not None:
                drawn.append(picture)
        if drawn:
            images = [image_from_file(p, p.stem.replace("_", " "), _CAPTIONS.get(p.name, "")) for p in drawn]
            page.sections.append(Section("Plots", "plots", list(images)))
    if noise_info is not None:
        pairs = tuple((k.replace("_", " "), cell(v)) for k, v in noise_info.items() if not isinstance(v, (dict, list)))
        page.sections.append(Section("Gradient noise scale", "noise", [Facts(pairs)]))
        hessian = noise_info.get("hessian")
        if hessian:
            b_crit = analysis.fit.b_crit if analysis.fit is not None and analysis.fit.status == "fit" else None
            page.sections.append(_hessian_section(hessian, b_crit, analysis.unit))
    page.sections.append(Section("Study settings (study.json)", "config", [Code(json.dumps(study, indent=2))]))
    return page


def _hessian_section(hessian: dict[str, Any], b_crit: float | None, unit: str) -> Section:
    """The Hessian-aware estimates with their intervals and ratios to the fitted knee."""
    suffix = "_tokens" if unit == "tokens" and hessian.get("b_noise_tokens") is not None else ""
    name = "valid tokens" if suffix else "samples"
    labels = {"b_simple": "B_simple", "b_noise": "B_noise", "b_temperature": "batch at the trained rate"}
    pairs: list[tuple[str, str]] = [
        (
            "measured at step",
            f"{hessian.get('step')}" + (" (target first reached)" if hessian.get("at_target") else ""),
        ),
        ("examples (groups)", f"{hessian.get('samples')} ({hessian.get('groups')})"),
        ("plain-SGD step rate, eps_max", f"{cell(hessian.get('lr'))}, {cell(hessian.get('eps_max'))}"),
    ]
    for key, label in labels.items():
        value = hessian.get(key + suffix)
        low, high = hessian.get(key + suffix + "_interval") or [None, None]
        if key == "b_temperature" and (above_optimum(hessian) or negative_curvature(hessian)):
            pairs.append((f"{label} ({name})", "none: the rate exceeds eps_max, or G^T H G < 0"))
            continue
        ratio = f"; {value / b_crit:.2f} x B_crit" if b_crit and isinstance(value, (int, float)) else ""
        pairs.append((f"{label} ({name})", f"{cell(value)} [{cell(low)}, {cell(high)}]{ratio}"))
    text = (
        "B_noise = tr(HΣ)/(GᵀHG) weighs the gradient noise by the curvature (McCandlish et al. 2018); the batch at "
        "the trained rate solves eps = eps_max / (1 + B_noise / B) for B. Intervals: bootstrap over the groups."
    )
    return Section("Hessian-aware noise scale", "hessian", [Facts(tuple(pairs)), Text(text)])


def _settings(study: dict[str, Any], target: Target | None, analysis: StudyAnalysis) -> Section:
    pairs = [
        ("kind", str(study.get("kind", "batch-size"))),
        ("name", str(study.get("name"))),
        ("batch sizes", ", ".join(str(s) for s in study.get("sizes", [])) or "-"),
        ("seeds", ", ".join(str(s) for s in study.get("seeds", [])) or "-"),
        ("target", str(target) if target else "none (final metrics only)"),
        ("compared metric", analysis.metric),
        ("training samples", cell(study.get("train_samples"))),
        ("batch unit", analysis.unit),
    ]
    return Section("Overview", "overview", [Facts(tuple(pairs))])


def _critical(analysis: StudyAnalysis) -> Section:
    fit = analysis.fit
    assert fit is not None  # the caller checks
    if fit.status == "insufficient":
        text = "Not fitted: fewer than two batch sizes reached the target."
        return Section("Critical batch size", "critical", [Facts((("status", fit.status),)), Text(text)])
    unit = "valid tokens" if analysis.unit == "tokens" else "samples"
    b_crit = f"{fit.b_crit:,.1f} {unit} per step" if math.isfinite(fit.b_crit) else "beyond the measured sizes"
    pairs = [
        ("status", fit.status),
        ("B_crit = E_min / S_min", b_crit),
        ("S_min (fewest steps)", f"{fit.s_min:,.1f}"),
        (f"E_min (fewest {unit})", f"{fit.e_min:,.0f}"),
        ("points fitted", str(fit.points)),
        ("RMS log error", f"{fit.rms_log_error:.3f}"),
        ("sizes fitted", f"{fit.size_range[0]:,.0f} to {fit.size_range[1]:,.0f}"),
    ]
    blocks: list[Any] = [Facts(tuple((k, v) for k, v in pairs if "nan" not in v))]
    finite = [f.b_crit for f in analysis.seed_fits if f.status == "fit" and math.isfinite(f.b_crit)]
    if len(finite) > 1:
        blocks.append(Text(f"Fitted per seed: B_crit {', '.join(f'{b:,.1f}' for b in finite)}."))
    return Section("Critical batch size", "critical", blocks)
