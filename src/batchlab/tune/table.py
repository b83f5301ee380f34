"""Rich tables of a study's trials, and the one-line form for logs that are not a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from batchlab.plural import plural
from batchlab.tune.rows import TrialRow, best_row, show_value

__all__ = ["short_names", "summary_line", "trial_line", "trials_table"]

_STYLES = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "INTERRUPTED": "magenta", "RUNNING": "cyan"}


def short_names(paths: Sequence[str]) -> dict[str, str]:
    """Column names for dotted paths: the last part (``lr``), or more of the path where two would clash."""
    names = {}
    for path in paths:
        parts = path.split(".")
        depth = 1
        while depth < len(parts) and sum(p.split(".")[-depth:] == parts[-depth:] for p in paths) > 1:
            depth += 1
        names[path] = ".".join(parts[-depth:])
    return names


def trials_table(
    rows: Sequence[TrialRow],
    paths: Sequence[str],
    metric: str,
    direction: str,
    *,
    title: str | None = None,
    limit: int | None = None,
    width: int | None = None,
) -> Table:
    """One row per trial: number, parameters, metric, state, seconds and a note; the best trial in bold.

    Args:
        rows: the trials to show, in the order given (the last ``limit`` of them when set).
        paths: the tuned config paths (one column each).
        metric: the optimized metric's name (the value column's header).
        direction: ``maximize`` or ``minimize``, to mark the best trial.
        title: the table's title.
        limit: show only the last ``limit`` rows.
        width: the console's width in characters; the note column takes what the others leave, so that
            a long failure reason is cut rather than squeezing the parameters.
    """
    best = best_row(rows, direction)
    names = short_names(paths)
    shown = list(rows)[-limit:] if limit else list(rows)
    cells = [
        [
            str(row.number),
            *(show_value(row.params[p]) if p in row.params else "-" for p in paths),
            f"{row.value:.4f}" if row.value is not None else "-",
            row.state,
            f"{row.seconds:.1f}" if row.seconds is not None else "-",
        ]
        for row in shown
    ]
    headers = ["trial", *(names[p] for p in paths), metric, "state", "time_s"]
    used = sum(max([len(h)] + [len(c[i]) for c in cells]) + 3 for i, h in enumerate(headers))
    table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False)
    for header in headers:
        table.add_column(header, justify="left" if header == "state" else "right", no_wrap=True)
    note_width = max(12, (width or 160) - used - 2)
    table.add_column("note", overflow="ellipsis", no_wrap=True, max_width=note_width)
    for row, line in zip(shown, cells, strict=True):
        style = _STYLES.get(row.state)
        line[len(paths) + 2] = f"[{style}]{row.state}[/]" if style else row.state
        is_best = best is not None and row.number == best.number
        table.add_row(*line, row.note, style="bold" if is_best else None)
    return table


def summary_line(rows: Sequence[TrialRow], metric: str, direction: str, budget: int | None = None) -> str:
    """``12/40 trials finished (10 complete, 1 pruned, 1 failed), 2 running; best val_accuracy 0.9815 (trial 7)``."""
    counts = {state: sum(r.state == state for r in rows) for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    finished = counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"]
    text = f"{finished}{f'/{budget}' if budget else ''} {plural(budget or finished, 'trial')} finished"
    text += f" ({counts['COMPLETE']} complete"
    text += f", {counts['PRUNED']} pruned, {counts['FAIL']} failed)"
    interrupted = sum(r.state == "INTERRUPTED" for r in rows)
    if interrupted:
        text += f", {interrupted} interrupted and retried"
    if counts["RUNNING"]:
        text += f", {counts['RUNNING']} running"
    best = best_row(rows, direction)
    if best is not None and best.value is not None:
        text += f"; best {metric} {best.value:.4f} (trial {best.number})"
    return text


def trial_line(row: TrialRow, paths: Sequence[str], metric: str) -> str:
    """One finished trial on one line, for output that is not a terminal."""
    names = short_names(paths)
    params = ", ".join(f"{names[p]}={show_value(row.params[p])}" for p in paths if p in row.params)
    value = f"{metric} {row.value:.4f}" if row.value is not None else f"{metric} -"
    seconds = f"{row.seconds:.1f} s" if row.seconds is not None else "-"
    line = f"trial {row.number:>4}  {row.state:<11} {value}  {params}  {seconds}"
    return f"{line}  ({row.note})" if row.note else line
