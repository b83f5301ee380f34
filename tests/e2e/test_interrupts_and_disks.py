"""What the operating system can do to a command: two Ctrl-C in quick succession, a disk that fills up
during training. Each ends with one line and a sensible exit code, never a traceback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchlab.cli import app

REPO = Path(__file__).resolve().parents[2]
LONG_RUN = "data: {source: iris}\nmodel: {hidden: [16]}\ntrain: {epochs: 100000, early_stopping: {enabled: false}}\n"


# What the installed ``batchlab`` script runs: its entry point, read from pyproject.toml below.
SCRIPT = "import sys; from batchlab.__main__ import run; sys.exit(run())"


def _start(tmp_path: Path, launcher: tuple[str, ...] = ("-m", "batchlab")) -> subprocess.Popen[str]:
    (tmp_path / "c.yaml").write_text(LONG_RUN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, *launcher, "train", "c.yaml", "--run-dir", "run", "-q", "--no-plots"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,  # as a shell starts it, whatever the test process's own handler is
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_script_enters_where_a_ctrl_c_during_imports_is_caught() -> None:
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["batchlab"] == "batchlab.__main__:run"


@pytest.mark.parametrize(
    ("moment", "launcher"),
    [("starting", ("-m", "batchlab")), ("starting", ("-c", SCRIPT)), ("training", ("-m", "batchlab"))],
)
def test_a_second_ctrl_c_20_ms_after_the_first_exits_130_without_a_traceback(
    tmp_path: Path, moment: str, launcher: tuple[str, ...]
) -> None:
    process = _start(tmp_path, launcher)
    deadline = time.monotonic() + 60
    if moment == "starting":  # batchlab's code runs (torch is being loaded) but training has not begun
        maps = Path(f"/proc/{process.pid}/maps")
        if not maps.exists():
            process.kill()
            pytest.skip("needs /proc to see when torch is loaded")
        while "libtorch" not in maps.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        while not (tmp_path / "run" / "metrics.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].startswith("batchlab: ")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MiB tmpfs mounted on ``tmp_path / "disk"`` (needs root; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_that_fills_during_training_gives_one_line_and_the_run_resumes(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(small_disk)
    (small_disk / "c.yaml").write_text(
        "data: {source: iris}\nmodel: {hidden: [64]}\n"
        "train: {epochs: 20, batch_size: 16, early_stopping: {enabled: false}, checkpoint: {every_steps: 5}}\n"
    )
    run = small_disk / "run"

    def fill_after_the_first_checkpoint() -> None:
        deadline = time.monotonic() + 60
        while not list((run / "checkpoints").glob("step-*")) and time.monotonic() < deadline:
            time.sleep(0.005)
        with open(small_disk / "ballast", "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * (1 << 16))
                    handle.flush()
            except OSError:
                pass

    filler = threading.Thread(target=fill_after_the_first_checkpoint)
    filler.start()
    result = CliRunner().invoke(app, ["train", "c.yaml", "--run-dir", "run", "-q", "--no-plots"])
    filler.join()
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("batchlab: error: "), result.stderr
    assert "No space left on device" in lines[-1] or "is the disk full?" in lines[-1], result.stderr
    assert "Traceback" not in result.output and not [p for p in run.rglob("*.tmp")]

    (small_disk / "ballast").unlink()
    resumed = CliRunner().invoke(app, ["train", "--resume", "run", "-q", "--no-plots"])
    assert resumed.exit_code == 0, resumed.output
