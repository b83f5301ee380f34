"""``batchlab report PATH --html OUT.html``: one self-contained HTML page of a run, a batch-size study or a
tuning study (figures as embedded PNG, CSS inline, nothing loaded from the network)."""

from __future__ import annotations

from pathlib import Path

from batchlab.report.html.page import Page, render_page

__all__ = ["build_page", "check_html_output", "write_html_report"]


def build_page(path: str | Path) -> Page:
    """The page of whatever ``path`` holds: a tuning study (``tune.json``), a batch-size, noise-scale or
    learning-rate study (``study.json``), a range test (``lr_find.json``) or a run directory (with its range
    test, when it holds one).

    Raises:
        CheckpointError: ``path`` is none of these.
    """
    from batchlab.errors import CheckpointError

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{str(path)!r} does not exist or is not a directory")
    if (path / "study.json").exists():
        from batchlab.study.directory import StudyDirectory

        if StudyDirectory(path).read().get("kind") == "lr-vs-batch":
            from batchlab.report.html.lr_page import lr_batch_page

            return lr_batch_page(path)
        from batchlab.report.html.study_page import study_page

        return study_page(path)
    if (path / "tune.json").exists():
        from batchlab.report.html.tune_page import tune_page

        return tune_page(path)
    from batchlab.lr_range.files import is_range_directory

    if is_range_directory(path) and not (path / "run.json").exists():
        from batchlab.report.html.lr_page import range_test_page

        return range_test_page(path)
    from batchlab.report.html.run_page import run_page

    page = run_page(path)
    if is_range_directory(path):  # a range test written into the run's directory
        from batchlab.report.html.lr_page import range_test_section

        page.sections.insert(-1, range_test_section(path))
    return page


def check_html_output(out: str | Path) -> Path:
    """``out`` as a path to write the page to, checked before any work is done.

    Raises:
        ConfigError: ``out`` is a directory, or its parent exists and is not one.
    """
    from batchlab.errors import ConfigError

    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--html: {str(out)!r} is a directory; give a file name such as {str(out / 'report.html')!r}")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--html: {str(parent)!r} is not a directory")
            break
    return out


def write_html_report(path: str | Path, out: str | Path) -> Path:
    """Write the report of ``path`` (see :func:`build_page`) to ``out`` atomically; returns ``out``.

    Raises:
        CheckpointError: ``path`` is not a run, study or tuning study directory.
        ConfigError: ``out`` cannot be written (see :func:`check_html_output`); Jinja2 is missing.
    """
    from batchlab.atomic import write_text

    out = check_html_output(out)
    write_text(out, render_page(build_page(path)))
    return out
