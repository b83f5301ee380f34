"""A study's plots, drawn with Optuna's matplotlib visualizations into ``STUDY_DIR/plots``.

- ``optimization_history.png``: the metric of each complete trial and the best so far;
- ``param_importances.png``: fANOVA importance of each parameter (with 2 or more parameters and at
  least 4 complete trials; the evaluator's forest is seeded, so the same trials draw the same bars);
- ``slice.png``: the metric against each parameter, one panel per parameter.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchlab.atomic import atomic_path

if TYPE_CHECKING:
    import optuna

__all__ = ["MIN_TRIALS_FOR_IMPORTANCE", "draw_plots"]

log = logging.getLogger(__name__)

MIN_TRIALS_FOR_IMPORTANCE = 4


def draw_plots(study: optuna.Study, plots_dir: str | Path, metric: str) -> list[Path]:
    """Draw the study's plots; return the files written (none before the first complete trial)."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna
    from optuna.visualization import matplotlib as views

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    plots_dir = Path(plots_dir)
    names = {name for t in complete for name in t.params}
    drawings: list[tuple[str, Any]] = [
        ("optimization_history.png", lambda: views.plot_optimization_history(study, target_name=metric)),
        ("slice.png", lambda: views.plot_slice(study, target_name=metric)),
    ]
    if len(names) >= 2 and len(complete) >= MIN_TRIALS_FOR_IMPORTANCE:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        drawings.insert(
            1,
            (
                "param_importances.png",
                lambda: views.plot_param_importances(study, evaluator=evaluator, target_name=metric),
            ),
        )
    written = []
    for name, draw in drawings:
        path = _draw(plots_dir / name, draw)
        if path is not None:
            written.append(path)
    return written


def _draw(path: Path, draw: Any) -> Path | None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's matplotlib views are marked experimental
        try:
            axes = draw()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            # e.g. importances of parameters that never varied; the other plots still come
            log.warning("could not draw %s: %s", path.name, exc)
            plt.close("all")
            return None
    panels = list(axes.flat) if hasattr(axes, "flat") else [axes]
    figure = panels[0].figure
    if len(panels) > 3:
        figure.set_size_inches(3.0 * len(panels) + 1.6, 4.8)
    for panel in panels:
        if panel.get_xscale() == "log":  # minor labels of short log axes overprint each other
            panel.xaxis.set_minor_formatter(NullFormatter())
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
