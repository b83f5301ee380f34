"""The HTML reports in a real browser: Debian's chromium, headless, driven through chromedriver.

For a run, a batch-size study and a tuning study: the page loads with no console error (a blocked
network load would be one, under the page's Content-Security-Policy), every image has loaded with a
natural width, the key figures are in the visible text, and a full-page screenshot is kept as an artefact
in ``artifacts/html-report/`` (ignored by git; ``$BATCHLAB_ARTIFACTS`` moves it).

``bash scripts/chromium.sh`` installs the browser; CI runs it. Without chromium, chromedriver or
selenium the test is skipped and says which is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchlab.report.html import write_html_report
from batchlab.report.html.page import cell
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _binary(variable: str, *names: str) -> str | None:
    if os.environ.get(variable):
        chosen = os.environ[variable]
        return chosen if Path(chosen).is_file() else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless chromium that records the console, or a skip that says what is missing."""
    chromium = _binary("BATCHLAB_CHROMIUM", "chromium", "chromium-browser")
    driver_path = _binary("BATCHLAB_CHROMEDRIVER", "chromedriver")
    if chromium is None or driver_path is None:
        missing = " and ".join(n for n, p in (("chromium", chromium), ("chromedriver", driver_path)) if p is None)
        pytest.skip(f"{missing} not found: run `bash scripts/chromium.sh` (CI does) to install Debian's browser")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed: pip install -e '.[dev]'")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _artefacts() -> Path:
    folder = Path(os.environ.get("BATCHLAB_ARTIFACTS") or REPO / "artifacts") / "html-report"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(driver: Any, page: Path, name: str) -> str:
    """Load ``page``, check the console and the images, keep a full-page screenshot; return the page text."""
    from selenium.webdriver.common.by import By

    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(page.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);"
    )
    assert images, "the page has no image"
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, f"image {alt!r} did not load"
    errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(max(height, 600), 12000))
    shot = _artefacts() / f"{name}.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    driver.set_window_size(1280, 1000)
    text: str = driver.find_element(By.TAG_NAME, "body").text
    return " ".join(text.split())


def test_run_report_in_the_browser(browser: Any, digits_run: Path, tmp_path: Path) -> None:
    text = _open(browser, write_html_report(digits_run, tmp_path / "run.html"), "run")
    test = json.loads((digits_run / "test_metrics.json").read_text())
    assert f"accuracy {cell(float(test['accuracy']))}" in text
    assert "Confusion matrix" in text and "Learning curves" in text and "Metrics by epoch" in text


def test_study_report_in_the_browser(browser: Any, handmade_study: Path, tmp_path: Path) -> None:
    from batchlab.study.directory import StudyDirectory
    from batchlab.study.results import analyze_study
    from batchlab.study.targets import Target

    text = _open(browser, write_html_report(handmade_study, tmp_path / "study.html"), "study")
    directory = StudyDirectory(handmade_study)
    analysis = analyze_study(directory.cells(), Target(**directory.read()["target"]))
    assert analysis.fit is not None
    assert f"B_crit = E_min / S_min {analysis.fit.b_crit:,.1f} samples per step" in text
    assert "Steps and samples to the target" in text and "Critical batch size" in text


def test_tune_report_in_the_browser(browser: Any, grid_tune_study: Path, tmp_path: Path) -> None:
    text = _open(browser, write_html_report(grid_tune_study, tmp_path / "tune.html"), "tune")
    record = json.loads((grid_tune_study / "tune.json").read_text())
    assert f"Tuning study {record['study']}" in text
    assert "8 trials finished (8 complete" in text
    assert "Parameter importances" in text and "fanova" in text and "mean_decrease_impurity" in text
