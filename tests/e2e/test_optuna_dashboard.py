"""A study made by ``batchlab tune`` opens unchanged in optuna-dashboard: its HTTP API gives back the study and
its trials, for the default journal file and for a PostgreSQL storage."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CONFIG = """\
data: {source: iris}
model: {hidden: [8]}
train: {batch_size: 16, epochs: 2, threads: 1, optimizer: {name: adam, lr: 0.01}}
"""
SPACE = """\
train.optimizer.lr: {log_uniform: [1e-3, 1e-1]}
train.batch_size: {choice: [8, 16]}
"""
POSTGRES = os.environ.get("BATCHLAB_TEST_POSTGRES_URL", "postgresql://batchlab:batchlab@127.0.0.1:55432/batchlab_test")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read().decode()
        return response.status, json.loads(text) if text else None


@contextlib.contextmanager
def dashboard(storage: str, cwd: Path) -> Iterator[str]:
    """``optuna-dashboard STORAGE`` on a free loopback port; yields its base URL once it answers."""
    script = Path(sys.executable).with_name("optuna-dashboard")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "optuna_dashboard._cli"]
    port = free_port()
    log = cwd / f"dashboard-{port}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [*command, storage, "--host", "127.0.0.1", "--port", str(port), "--server", "wsgiref"],
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                http("GET", f"{base}/api/meta")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"optuna-dashboard did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_study_in_dashboard(base: str, study_name: str, trials_csv: Path) -> int:
    """The dashboard lists the study and every trial with its state, value and parameters; returns its id."""
    _, studies = http("GET", f"{base}/api/studies")
    (summary,) = [s for s in studies["study_summaries"] if s["study_name"] == study_name]
    assert summary["directions"] == ["maximize"]
    _, detail = http("GET", f"{base}/api/studies/{summary['study_id']}")
    with open(trials_csv, newline="") as handle:
        rows = {int(r["number"]): r for r in csv.DictReader(handle)}
    trials = {t["number"]: t for t in detail["trials"]}
    assert sorted(trials) == sorted(rows) == [0, 1, 2]
    for number, row in rows.items():
        trial = trials[number]
        assert trial["state"] == "Complete"
        assert trial["values"] == [pytest.approx(float(row["val_accuracy"]))]
        params = {p["name"]: p["param_external_value"] for p in trial["params"]}
        assert float(params["train.optimizer.lr"]) == pytest.approx(float(row["train.optimizer.lr"]))
        assert int(params["train.batch_size"]) == int(row["train.batch_size"])
        assert [v["step"] for v in trial["intermediate_values"]] == [1, 2]  # one report per epoch
    assert {p["name"] for p in detail["union_search_space"]} == {"train.optimizer.lr", "train.batch_size"}
    return int(summary["study_id"])


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "iris.yaml").write_text(CONFIG)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def tune(batchlab_cli, *options: str) -> Any:  # type: ignore[no-untyped-def]
    command = ["tune", "iris.yaml", "--space", "space.yaml", "--method", "random", "--trials", "3", *options]
    done = batchlab_cli(*command)
    assert done.code == 0, done.stderr
    return done


def test_journal_study_opens_in_the_dashboard_and_takes_its_writes(batchlab_cli, files: Path) -> None:  # type: ignore[no-untyped-def]
    tune(batchlab_cli, "--study-dir", "study")
    journal = files / "study" / "optuna.journal"
    with dashboard(str(journal), files) as base:
        study_id = check_study_in_dashboard(base, "iris-random", files / "study" / "trials.csv")
        # A note saved in the dashboard is a write through Optuna's own journal lock: it must not wait for
        # (nor delete) batchlab's lock file.
        started = time.monotonic()
        status, _ = http("PUT", f"{base}/api/studies/{study_id}/note", {"version": 1, "body": "looked at it"})
        assert status == 204 and time.monotonic() - started < 10
    assert (files / "study" / "optuna.journal.flock").exists()
    again = tune(batchlab_cli, "--study-dir", "study", "--trials", "4")  # batchlab reads the journal it was given
    assert "Resuming study iris-random: 3 trials finished so far" in again.stdout
    from batchlab.tune.storage import open_storage

    storage = open_storage(None, files / "study").storage
    attrs = storage.get_study_system_attrs(storage.get_study_id_from_name("iris-random"))
    assert "looked at it" in json.dumps(attrs)
    assert len(storage.get_all_trials(storage.get_study_id_from_name("iris-random"))) == 4


def test_postgresql_study_opens_in_the_dashboard(batchlab_cli, files: Path) -> None:  # type: ignore[no-untyped-def]
    try:
        import psycopg

        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except Exception as exc:  # no driver, no server, wrong password: not available here
        pytest.skip(
            f"no PostgreSQL server at {POSTGRES.split('@')[-1]} ({type(exc).__name__}); bash scripts/postgres.sh"
        )
    import optuna

    name = f"dashboard-{uuid.uuid4().hex[:10]}"
    try:
        tune(batchlab_cli, "--study-dir", "study", "--storage", POSTGRES, "--study", name)
        with dashboard(POSTGRES, files) as base:
            check_study_in_dashboard(base, name, files / "study" / "trials.csv")
    finally:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=POSTGRES)
