"""Compare the batch-size sweeps of a variant study: one row per (variant, batch size) and the conclusions
naming where each variant wins.

Three quantities are compared at each batch size that at least two variants trained: the final value of
the study's metric (higher or lower is better by the metric), the steps to the target (fewer is better;
only variants that reached it), and the generalization gap (train minus validation of the final weights;
closer to 0 is better; with a target, among the variants that reached it). Means are over seeds; a win
by less than the larger of the two seed standard deviations is flagged as within the seed spread.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchlab.study.results import StudyAnalysis
from batchlab.study.targets import Target, metric_direction

__all__ = ["QUANTITIES", "VariantComparison", "compare_variants"]

QUANTITIES = ("final", "steps_to_target", "gap")


@dataclass(frozen=True)
class VariantComparison:
    """What the variant report shows.

    Attributes:
        field: the varied config field.
        metric: the validation metric compared (the target's, else accuracy / R² / loss).
        target: the target, or ``None``.
        rows: one dict per (variant, batch size): ``variant``, ``size``, ``batch_size``, ``seeds``,
            ``reached``, and ``<quantity>_mean`` / ``<quantity>_std`` for each of :data:`QUANTITIES`.
        winners: per quantity, the winning variant at each batch size (``{quantity: {batch_size: variant}}``;
            an exact tie is named ``"a = b"``).
        conclusions: sentences for people.
    """

    field: str
    metric: str
    target: Target | None
    rows: list[dict[str, Any]]
    winners: dict[str, dict[int, str]]
    conclusions: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "metric": self.metric,
            "target": str(self.target) if self.target else None,
            "rows": self.rows,
            "winners": {q: {str(k): v for k, v in w.items()} for q, w in self.winners.items()},
            "conclusions": self.conclusions,
        }


def compare_variants(field: str, analyses: Mapping[str, StudyAnalysis]) -> VariantComparison:
    """Rows, winners and conclusions of each variant's analysed sweep (variants in the given order).

    Args:
        field: the varied config field, for the sentences.
        analyses: each variant's :class:`~batchlab.study.results.StudyAnalysis`, by value.
    """
    present = {v: a for v, a in analyses.items() if a.summary}
    first = next(iter(present.values()), None)
    metric = first.metric if first is not None else "val_accuracy"
    target = first.target if first is not None else None
    rows = []
    for variant, analysis in present.items():
        for entry in analysis.summary:
            row = {
                "variant": variant,
                "size": entry["size"],
                "batch_size": entry["batch_size"],
                "seeds": entry["seeds"],
                "reached": entry["reached"],
            }
            for name in QUANTITIES:
                row[f"{name}_mean"] = entry.get(f"{name}_mean")
                row[f"{name}_std"] = entry.get(f"{name}_std")
            rows.append(row)
    better: dict[str, Callable[[float], float]] = {
        "final": (lambda x: -x) if metric_direction(metric) == "max" else (lambda x: x),
        "steps_to_target": lambda x: x,
        "gap": abs,
    }
    winners: dict[str, dict[int, str]] = {}
    close: dict[str, set[int]] = {}
    for quantity in QUANTITIES:
        winners[quantity], close[quantity] = _winners(rows, quantity, better[quantity], target is not None)
    names = {
        "final": f"final {metric}",
        "steps_to_target": f"steps to {target}" if target else "steps to target",
        "gap": "generalization gap (train - validation)"
        + (", among variants that reached the target" if target else ""),
    }
    conclusions = []
    for quantity in QUANTITIES:
        line = _winner_sentence(names[quantity], winners[quantity], close[quantity], rows)
        if line:
            conclusions.append(line)
    conclusions += _crossovers(rows, "final", better["final"], names["final"])
    if target is not None:
        never = [v for v in present if not any(r["reached"] for r in rows if r["variant"] == v)]
        if never:
            conclusions.append(f"Never reached {target}: {', '.join(f'{field}={v}' for v in never)}.")
    if not conclusions and rows:
        conclusions.append("Only one variant has finished cells: nothing to compare yet.")
    return VariantComparison(field, metric, target, rows, winners, conclusions)


def _winners(
    rows: Sequence[dict[str, Any]], quantity: str, key: Callable[[float], float], has_target: bool
) -> tuple[dict[int, str], set[int]]:
    """Best variant per batch size, and the sizes won narrowly.

    The final metric compares every variant (at sizes two or more have); with a target, steps and the gap
    compare only the variants that reached it there (a run that learned nothing has no gap to speak of),
    and a single one wins alone.
    """
    winners: dict[int, str] = {}
    close: set[int] = set()
    for size, group in itertools.groupby(sorted(rows, key=lambda r: r["batch_size"]), key=lambda r: r["batch_size"]):
        scored = [r for r in group if r[f"{quantity}_mean"] is not None]
        only_reached = quantity == "steps_to_target" or (quantity == "gap" and has_target)
        if only_reached:
            scored = [r for r in scored if r["reached"]]
        if not scored or (len(scored) < 2 and not only_reached):
            continue
        ranked = sorted(scored, key=lambda r: key(float(r[f"{quantity}_mean"])))
        best = key(float(ranked[0][f"{quantity}_mean"]))
        tied = [r for r in ranked if key(float(r[f"{quantity}_mean"])) == best]
        winners[size] = " = ".join(str(r["variant"]) for r in tied)  # an exact tie names every variant in it
        if len(ranked) > len(tied):
            runner = ranked[len(tied)]
            margin = key(float(runner[f"{quantity}_mean"])) - best
            spread = max(float(r[f"{quantity}_std"] or 0.0) for r in [*tied, runner])
            if margin < spread:
                close.add(size)
    return winners, close


def _ranges(sizes: Sequence[int]) -> str:
    """``[2, 4, 8]`` of consecutive study sizes -> ``2-8``; a single size as is."""
    return f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"


def _winner_sentence(
    name: str, winners: Mapping[int, str], close: set[int], rows: Sequence[dict[str, Any]]
) -> str | None:
    if not winners:
        return None
    runs: list[tuple[str, list[int]]] = []
    for size in sorted(winners):
        if runs and runs[-1][0] == winners[size]:
            runs[-1][1].append(size)
        else:
            runs.append((winners[size], [size]))
    parts = [f"{variant} at batch {_ranges(sizes)}" for variant, sizes in runs]
    text = f"Best {name}: " + ", ".join(parts) + "."
    if close:
        text += f" Within the seed spread at {', '.join(str(s) for s in sorted(close))}."
    if len(runs) == 1 and len(winners) > 1:
        text = f"Best {name}: {runs[0][0]} at every batch size compared ({_ranges(sorted(winners))})."
        if close:
            text += f" Within the seed spread at {', '.join(str(s) for s in sorted(close))}."
    return text


def _crossovers(rows: Sequence[dict[str, Any]], quantity: str, key: Callable[[float], float], name: str) -> list[str]:
    """For each pair of variants whose order on ``quantity`` flips exactly once across batch sizes: where."""
    values: dict[str, dict[int, float]] = {}
    for row in rows:
        if row[f"{quantity}_mean"] is not None:
            values.setdefault(row["variant"], {})[row["batch_size"]] = key(float(row[f"{quantity}_mean"]))
    lines = []
    for a, b in itertools.combinations(values, 2):
        sizes = sorted(set(values[a]) & set(values[b]))
        order = [values[a][s] < values[b][s] for s in sizes if values[a][s] != values[b][s]]
        kept = [s for s in sizes if values[a][s] != values[b][s]]
        flips = [i for i in range(1, len(order)) if order[i] != order[i - 1]]
        if len(flips) != 1:
            continue
        at = kept[flips[0]]
        below, above = (a, b) if order[0] else (b, a)
        lines.append(f"{name}: {below} beats {above} below batch size {at}; {above} wins from {at} up.")
    return lines
