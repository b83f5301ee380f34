"""What a range test says, in lines for people: where it stopped, both suggestions, the notes.

Used right after ``batchlab lr-find`` and by ``batchlab report DIR`` on a folder that holds ``lr_find.json``
(its plot is redrawn there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from batchlab.lr_range.curve import RULES

__all__ = ["range_test_lines", "report_range_test"]


def range_test_lines(record: dict[str, Any]) -> list[str]:
    """The summary of one range test (``lr_find.json``) as lines of text.

    >>> record = {"settings": {"min_lr": 1e-7, "max_lr": 10.0, "steps": 100, "mode": "exp"}, "points": 3,
    ...           "curve": {"lr": [1e-7, 1e-6, 1e-5]}, "info": {"lr_batch": 32, "optimizer": {"name": "sgd"},
    ...           "seconds": 1.5}, "stop_reason": "reached the last rate", "notes": [], "initial_loss": 2.3,
    ...           "suggestions": {"steepest": None, "min10": 1e-6, "best_rate": 1e-5, "best_loss": 2.2},
    ...           "rule": "min10"}
    >>> lines = range_test_lines(record)
    >>> lines[0]  # doctest: +ELLIPSIS
    'Range test: 3 of 100 rates from 1e-07 to 10 (spaced exponentially), one optimizer step each at batch 32 ...'
    >>> print("\\n".join(lines[1:]))  # doctest: +NORMALIZE_WHITESPACE
    Stopped: reached the last rate
    Lowest smoothed loss 2.2 at lr 1e-05 (initial loss 2.3)
    Suggested learning rates:
      steepest descent of the smoothed loss   none (the smoothed loss never fell)
      minimum of the smoothed loss / 10       1e-06
    """
    settings, info = record["settings"], record.get("info", {})
    found = record["suggestions"]
    unit = "tokens" if info.get("batch_unit") == "tokens" else "samples"
    spacing = "exponentially" if settings.get("mode", "exp") == "exp" else "linearly"
    workers = info.get("world_size") or 1
    extras = [str(info.get("optimizer", {}).get("name", ""))]
    if info.get("accumulate", 1) > 1:
        extras.append(f"accumulating {info['accumulate']} micro-batches")
    if info.get("precision", "fp32") != "fp32":
        extras.append(str(info["precision"]))
    if workers > 1:
        extras.append(f"{workers} workers")
    seconds = info.get("seconds")
    lines = [
        f"Range test: {record['points']} of {settings['steps']} rates from {settings['min_lr']:.3g} to "
        f"{settings['max_lr']:.3g} (spaced {spacing}), one optimizer step each at batch {info.get('lr_batch', '?'):,} "
        f"{unit}, {', '.join(e for e in extras if e)}" + (f"; {seconds:.1f} s" if seconds is not None else ""),
        f"Stopped: {record.get('stop_reason') or '-'}",
    ]
    lines += [f"Note: {note}" for note in record.get("notes", [])]
    if found.get("best_rate") is not None:
        initial = record.get("initial_loss")
        start = f" (initial loss {initial:.4g})" if initial is not None else ""
        lines.append(f"Lowest smoothed loss {found['best_loss']:.4g} at lr {found['best_rate']:.3g}{start}")
    rule = record.get("rule", "min10")
    lines.append("Suggested learning rates:")
    for name, text in RULES.items():
        rate = found.get(name)
        value = f"{rate:.3g}" if rate is not None else "none (the smoothed loss never fell)"
        mark = f"  <- suggested (--rule {name})" if name == rule and rate is not None and _both(found) else ""
        lines.append(f"  {text:<38}  {value}{mark}")
    return lines


def report_range_test(path: str | Path, console: Console, *, plot: bool = True) -> dict[str, Any]:
    """Print the range test in ``path`` (``lr_find.json``) and redraw ``plots/lr_find.png``.

    Returns:
        The record that was printed.
    """
    from batchlab.lr_range.files import PLOT_FILE, RangeDirectory

    directory = RangeDirectory(path)
    record = directory.read()
    console.print(f"[bold]{directory.path}[/bold]  range test of {record.get('name')!r}")
    for line in range_test_lines(record):
        console.print(line, soft_wrap=True, markup=False)
    if plot:
        from batchlab.report.lr_plots import plot_range_test

        console.print(f"Plot: {plot_range_test(record, directory.path / PLOT_FILE)}", soft_wrap=True)
    return record


def _both(found: dict[str, Any]) -> bool:
    return found.get("steepest") is not None and found.get("min10") is not None
