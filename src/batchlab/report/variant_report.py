"""The report of a variant study (``batchlab study batch-size ... --vary FIELD=A,B``): one table, three
overlaid plots and the conclusions, recomputed from every variant's finished cells.

::

    STUDY_DIR/variants.csv        one row per (variant, batch size): mean and std over seeds
    STUDY_DIR/variants_results.json   the same rows, the winners per batch size and the conclusions
    STUDY_DIR/plots/variants_steps_to_target.png, variants_final_metric.png, variants_gap.png

Each variant's sweep is an ordinary batch-size study: ``batchlab report STUDY_DIR/variants/FIELD=VALUE``
reports it alone (its table, critical-batch fit and plots).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from batchlab.atomic import write_text
from batchlab.report.study_plots import _pyplot, _save
from batchlab.report.study_summary import _finite, summary_csv_text
from batchlab.study.directory import StudyDirectory
from batchlab.study.results import StudyAnalysis, analyze_study
from batchlab.study.targets import Target
from batchlab.study.variant_results import VariantComparison, compare_variants
from batchlab.study.variants import read_variants

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_variants", "report_variant_study", "variant_table"]


def report_variant_study(path: str | Path, console: Console) -> VariantComparison:
    """Print the comparison table and conclusions of a variant study; write its CSV, JSON and plots."""
    root = Path(path)
    record = read_variants(root)
    target = Target(**record["target"]) if record.get("target") else None
    analyses: dict[str, StudyAnalysis] = {}
    for value in record.get("values", []):
        directory = StudyDirectory(root / record["folders"][value])
        cells = directory.cells() if directory.exists() else []
        analyses[value] = analyze_study(cells, target)
    comparison = compare_variants(record["field"], analyses)
    finished = {v: len({r["batch_size"] for r in a.rows}) for v, a in analyses.items()}
    console.print(
        f"[bold]{root}[/bold]  variant study of {record.get('name')!r}: {record['field']} = "
        + ", ".join(f"{v} ({n} sizes)" for v, n in finished.items())
        + (f", target {target}" if target else "")
    )
    if comparison.rows:
        console.print(variant_table(comparison))
    for line in comparison.conclusions:
        console.print(f"- {line}", soft_wrap=True)
    files = {
        "variants.csv": summary_csv_text(comparison.rows),
        "variants_results.json": json.dumps(_finite(comparison.to_dict()), indent=2) + "\n",
    }
    for name, text in files.items():
        write_text(root / name, text)
    plots = plot_variants(comparison, root / "plots") if comparison.rows else []
    console.print("Results: " + ", ".join(str(root / n) for n in files), soft_wrap=True)
    if plots:
        console.print("Plots: " + ", ".join(str(p) for p in plots), soft_wrap=True)
    return comparison


def variant_table(comparison: VariantComparison) -> Table:
    """One row per (batch size, variant): reached, steps to target, final metric and gap (mean ± std)."""
    table = Table(
        header_style="bold",
        show_edge=False,
        title=f"{comparison.field} by batch size (mean ± std over seeds; {comparison.metric})",
    )
    columns = ["batch", comparison.field]
    if comparison.target is not None:
        columns += ["reached", "steps\nto target"]
    columns += ["final", "gap\ntrain-val", "wins"]
    for column in columns:
        table.add_column(column, justify="right")
    for row in sorted(comparison.rows, key=lambda r: (r["batch_size"], list(_order(comparison)).index(r["variant"]))):
        size = row["batch_size"]
        won = [q for q, w in comparison.winners.items() if row["variant"] in str(w.get(size, "")).split(" = ")]
        if comparison.target is None:
            won = [q for q in won if q != "steps_to_target"]
        cells = [f"full ({size:,})" if row["size"] == "full" else f"{size:,}", str(row["variant"])]
        if comparison.target is not None:
            cells += [f"{row['reached']}/{row['seeds']}", _pm(row, "steps_to_target", ",.0f")]
        cells += [_pm(row, "final", ".4f"), _pm(row, "gap", "+.4f"), ", ".join(_short(q) for q in won)]
        table.add_row(*cells)
    return table


def plot_variants(comparison: VariantComparison, directory: str | Path) -> list[Path]:
    """Overlaid plots, one line per variant against batch size: steps to target (when there is a target),
    final metric and generalization gap, with std over seeds as error bars."""
    directory = Path(directory)
    drawn = []
    titles = {
        "steps_to_target": (f"steps to {comparison.target}", "variants_steps_to_target.png"),
        "final": (f"final {comparison.metric}", "variants_final_metric.png"),
        "gap": (f"generalization gap ({comparison.metric.removeprefix('val_')}: train - val)", "variants_gap.png"),
    }
    for quantity, (label, name) in titles.items():
        if quantity == "steps_to_target" and comparison.target is None:
            continue
        rows = [r for r in comparison.rows if r[f"{quantity}_mean"] is not None]
        if quantity == "steps_to_target":
            rows = [r for r in rows if r["reached"]]
        if not rows:
            continue
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for variant in _order(comparison):
            mine = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["batch_size"])
            if not mine:
                continue
            ax.errorbar(
                [r["batch_size"] for r in mine],
                [r[f"{quantity}_mean"] for r in mine],
                yerr=[r[f"{quantity}_std"] or 0.0 for r in mine],
                fmt="o-",
                capsize=3,
                label=f"{comparison.field}={variant}",
            )
        if quantity == "steps_to_target":
            ax.set_yscale("log")
        if quantity == "gap":
            ax.axhline(0.0, color="gray", linewidth=0.8)
        if quantity == "final" and comparison.target is not None and comparison.target.metric == comparison.metric:
            ax.axhline(
                comparison.target.value, color="gray", linestyle=":", label=f"target {comparison.target.value:g}"
            )
        _batch_axis(ax, sorted({r["batch_size"] for r in comparison.rows}))
        ax.set_ylabel(label)
        ax.set_title(f"{label} by batch size")
        ax.legend(fontsize=8)
        drawn.append(_save(fig, directory / name))
    return drawn


def _batch_axis(ax: Axes, sizes: Sequence[int]) -> None:
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes))
    ax.set_xticklabels([str(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("batch size (samples per step)")
    ax.grid(alpha=0.3, which="both")


def _order(comparison: VariantComparison) -> dict[str, None]:
    return dict.fromkeys(r["variant"] for r in comparison.rows)


def _short(quantity: str) -> str:
    return {"final": "final", "steps_to_target": "steps", "gap": "gap"}[quantity]


def _pm(row: dict[str, Any], name: str, spec: str) -> str:
    mean, std = row.get(f"{name}_mean"), row.get(f"{name}_std")
    if mean is None:
        return "-"
    return f"{mean:{spec}}" + (f" ± {std:{spec.lstrip('+')}}" if std else "")
