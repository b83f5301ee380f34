"""The live view of a running study: a table of finished trials and the best so far.

On a terminal a rich ``Live`` table is redrawn in place (the last 20 trials, the running ones
included); elsewhere (a pipe, a log file, CI) each trial is printed once, as one line, when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from batchlab.tune.rows import trial_rows
from batchlab.tune.settings import TuneSettings
from batchlab.tune.table import summary_line, trial_line, trials_table

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = ["LiveTrials"]

_SHOWN = 20


class LiveTrials:
    """Shows the trials of a study as they finish.

    Args:
        settings: the study.
        console: where to draw; ``None`` shows nothing.
    """

    def __init__(self, settings: TuneSettings, console: Console | None) -> None:
        self.settings = settings
        self.console = console
        self._printed: set[int] = set()
        self._live: Live | None = None

    def __enter__(self) -> LiveTrials:
        if self.console is not None and self.console.is_terminal:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def skip(self, trials: Iterable[FrozenTrial]) -> None:
        """Do not print these (already finished when a resumed study starts) one by one again."""
        rows = trial_rows(trials, self.settings.space)
        self._printed.update(r.number for r in rows if r.is_finished)

    def update(self, trials: Iterable[FrozenTrial]) -> None:
        """Redraw (terminal) or print the newly finished trials (elsewhere)."""
        if self.console is None:
            return
        s = self.settings
        rows = trial_rows(trials, s.space, now=time.time())
        if self._live is not None:
            shown = [r for r in rows if r.is_finished or r.state == "RUNNING"]
            shown.sort(key=lambda r: (r.state == "RUNNING", r.finished or "", r.number))
            table = trials_table(shown, s.space.paths, s.metric, s.direction, limit=_SHOWN, width=self.console.width)
            line = Text(summary_line(rows, s.metric, s.direction, s.trials))
            self._live.update(Group(table, line), refresh=True)
            return
        for row in sorted((r for r in rows if r.is_finished), key=lambda r: (r.finished or "", r.number)):
            if row.number not in self._printed:
                self._printed.add(row.number)
                self.console.print(trial_line(row, s.space.paths, s.metric), markup=False, soft_wrap=True)
