"""The HTML report of a tuning study: the settings and search space, the best trial, the optimization
history, the parameter importances (Optuna's fANOVA and mean-decrease-impurity evaluators), the slice
plot and the trials table."""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

from batchlab.errors import CheckpointError
from batchlab.report.html.page import Code, Facts, Page, Section, Table, Text, cell, image_from_file, table_from_rich
from batchlab.report.tune_summary import load_trials, rows_from_csv
from batchlab.tune.plots import MIN_TRIALS_FOR_IMPORTANCE, draw_plots

__all__ = ["parameter_importances", "tune_page"]

log = logging.getLogger(__name__)

_CAPTIONS = {
    "optimization_history.png": "The metric of each complete trial and the best so far.",
    "param_importances.png": "fANOVA importance of each parameter (Optuna, seeded).",
    "slice.png": "The metric against each parameter.",
}


def tune_page(path: str | Path) -> Page:
    """The report of the tuning study directory ``path`` (it holds ``tune.json``).

    The trials come from the study's storage when it can be opened, else from ``trials.csv`` (then
    without plots or importances, which need the storage).

    Raises:
        CheckpointError: ``tune.json`` is missing or unreadable.
    """
    from batchlab.tune.results import read_tune_json
    from batchlab.tune.rows import best_row
    from batchlab.tune.table import summary_line, trials_table

    study_dir = Path(path)
    try:
        record = read_tune_json(study_dir)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{study_dir}: cannot read tune.json ({exc.__class__.__name__})") from None
    metric, direction = str(record.get("metric", "value")), str(record.get("direction", "maximize"))
    loaded = load_trials(study_dir, record)
    study, rows = (None, rows_from_csv(study_dir / "trials.csv", metric)) if loaded is None else loaded
    page = Page(
        title=f"Tuning study {record.get('study')!s}",
        subtitle=f"{study_dir.name}: {summary_line(rows, metric, direction, record.get('trials'))}",
        kind="tune",
    )
    paths = list((record.get("search_space") or {}).keys())
    best = best_row(rows, direction)
    overview: list[Any] = [Facts(tuple(_settings(record)))]
    if best is not None and best.value is not None:
        pairs = [("trial", str(best.number)), (metric, f"{best.value:.4f}")]
        pairs += [(name, str(value)) for name, value in best.params.items()]
        if best.run_dir:
            pairs.append(("run directory", best.run_dir))
        overview.append(Text("Best trial:"))
        overview.append(Facts(tuple(pairs)))
    if study is None:
        overview.append(Text("The study's storage cannot be opened from here: trials come from trials.csv, no plots."))
    page.sections.append(Section("Overview", "overview", overview))
    if study is not None:
        importances = parameter_importances(study)
        if importances:
            names = sorted(importances, key=lambda p: -importances[p].get("fanova", 0.0))
            evaluators = list(next(iter(importances.values())))
            table = Table(
                ("parameter", *evaluators),
                tuple((p, *(cell(importances[p].get(e)) for e in evaluators)) for p in names),
                caption="Parameter importances (share of the metric's variance; each column sums to 1)",
            )
            page.sections.append(Section("Parameter importances", "importances", [table]))
        with tempfile.TemporaryDirectory(prefix="batchlab-report-") as scratch:
            drawn = draw_plots(study, scratch, metric)
            images = [image_from_file(p, p.stem.replace("_", " "), _CAPTIONS.get(p.name, "")) for p in drawn]
        if images:
            page.sections.append(Section("Plots", "plots", list(images)))
    sign = -1.0 if direction == "maximize" else 1.0
    ranked = sorted(rows, key=lambda r: (r.value is None, sign * (r.value or 0.0), r.number))
    if ranked:
        terminal = trials_table(ranked, paths, metric, direction, title="Trials, best first", width=400)
        page.sections.append(Section("Trials", "trials", [table_from_rich(terminal)]))
    settings = {k: v for k, v in record.items() if k not in ("storage",)} | {"storage": _storage(record)}
    page.sections.append(Section("Study settings (tune.json)", "config", [Code(json.dumps(settings, indent=2))]))
    return page


def parameter_importances(study: Any) -> dict[str, dict[str, float]]:
    """Importance of each tuned parameter by Optuna's fANOVA and mean-decrease-impurity evaluators.

    Both fit a random forest of the metric on the parameters of the complete trials (seeded, so the
    same trials give the same numbers); each evaluator's importances sum to 1.

    Args:
        study: an ``optuna.Study``.

    Returns:
        ``{parameter: {"fanova": share, "mean_decrease_impurity": share}}``; empty with fewer than
        :data:`~batchlab.tune.plots.MIN_TRIALS_FOR_IMPORTANCE` complete trials or fewer than two
        parameters, or when no evaluator can fit (a parameter that never varied, say).
    """
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, MeanDecreaseImpurityImportanceEvaluator

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    names = {name for t in complete for name in t.params}
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE or len(names) < 2:
        return {}
    result: dict[str, dict[str, float]] = {}
    evaluators = {
        "fanova": FanovaImportanceEvaluator(seed=0),
        "mean_decrease_impurity": MeanDecreaseImpurityImportanceEvaluator(seed=0),
    }
    for label, evaluator in evaluators.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings
            try:
                shares = optuna.importance.get_param_importances(study, evaluator=evaluator)
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                log.warning("parameter importances (%s) not computed: %s", label, exc)
                continue
        for name, share in shares.items():
            result.setdefault(name, {})[label] = float(share)
    return result


def _settings(record: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [
        ("method", str(record.get("method")) + (f" ({record.get('sampler')})" if record.get("sampler") else "")),
        ("objective", f"{record.get('direction')} {record.get('metric')}"),
        ("trials asked", cell(record.get("trials"))),
        ("seed", cell(record.get("seed"))),
        ("pruning", str(record.get("prune") or "none")),
        ("status", str(record.get("status"))),
        ("storage", _storage(record)),
    ]
    for path, spec in (record.get("search_space") or {}).items():
        pairs.append((f"space: {path}", json.dumps(spec)))
    return pairs


def _storage(record: dict[str, Any]) -> str:
    storage = record.get("storage")
    return "journal file in the study directory" if storage is None else str(storage)
