"""Batch-size schedules against the fixed sizes of a study: the Pareto front of steps and samples.

A fixed batch size trades steps for samples: small batches need few samples and many steps, large ones
the reverse (McCandlish et al. 2018). A schedule cell is worth its name when no fixed size reaches the
target with both fewer steps and fewer samples, i.e. when it sits on the Pareto front of the sweep; and a
ramp should need no more samples than a fixed run at the size it ramps to.

>>> fixed = [{"size": "32", "steps_to_target_mean": 400, "samples_to_target_mean": 12800},
...          {"size": "512", "steps_to_target_mean": 60, "samples_to_target_mean": 30720}]
>>> dominating({"steps_to_target_mean": 100, "samples_to_target_mean": 14000}, fixed)
[]
>>> [d["size"] for d in dominating({"steps_to_target_mean": 500, "samples_to_target_mean": 14000}, fixed)]
['32']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["dominating", "schedule_sentences"]


def dominating(entry: dict[str, Any], fixed: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fixed sizes (summary entries) that reached the target in fewer steps *and* fewer samples."""
    steps, samples = entry["steps_to_target_mean"], entry["samples_to_target_mean"]
    return [
        f
        for f in fixed
        if f["steps_to_target_mean"] is not None
        and f["samples_to_target_mean"] is not None
        and f["steps_to_target_mean"] < steps
        and f["samples_to_target_mean"] < samples
    ]


def schedule_sentences(summary: Sequence[dict[str, Any]], target: Any) -> list[str]:
    """One sentence per schedule cell of the summary: its steps and samples to the target, whether it is on
    the Pareto front of the fixed sizes that reached the target with every seed, and for a ramp how its
    samples compare with the fixed size it ends on."""
    if target is None:
        return []
    fixed = [s for s in summary if not s.get("schedule") and s["reached"] == s["seeds"]]
    lines = []
    for entry in (s for s in summary if s.get("schedule")):
        name = f"Schedule {entry['size']}"
        if entry["reached"] != entry["seeds"]:
            lines.append(f"{name}: reached {target} with {entry['reached']} of {entry['seeds']} seeds.")
            continue
        steps, samples = entry["steps_to_target_mean"], entry["samples_to_target_mean"]
        text = f"{name}: {steps:,.0f} steps and {samples:,.0f} samples to {target}"
        better = dominating(entry, fixed)
        if not fixed:
            text += "; no fixed size reached it with every seed to compare with"
        elif better:
            text += "; dominated by batch " + ", ".join(str(b["size"]) for b in better) + " (fewer steps and samples)"
        else:
            text += "; on the Pareto front of the sweep (no fixed size needs fewer steps and fewer samples)"
        end = next((f for f in fixed if str(f["size"]) == str(entry.get("schedule_end"))), None)
        if entry.get("schedule") == "ramp" and end is not None:
            ratio = samples / end["samples_to_target_mean"]
            verdict = "no more than" if ratio <= 1 else "more than"
            text += (
                f"; {verdict} a fixed batch of its end size {end['size']} in samples ({ratio:.2f}x, "
                f"{end['samples_to_target_mean']:,.0f})"
            )
        lines.append(text + ".")
    return lines
