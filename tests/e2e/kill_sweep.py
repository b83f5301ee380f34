"""Kill a short training with SIGKILL at every file write in turn, resume it, and compare with a clean run.

    python tests/e2e/kill_sweep.py WORKDIR CONFIG.yaml [--only N,M]

Prints one JSON object: the writes of the clean run (the files each ``os.replace`` put in place, in
order) and, for every kill point N, how the killed process ended, how the resume ended, and which of
the final files differ from the clean run's. ``tests/e2e/test_kill_sweep.py`` runs it and asserts.

Kill point N stops the process with SIGKILL just before its N-th ``os.replace``: every file written
atomically (config, run facts, metrics rewrites, best weights, final weights, test metrics) and every
checkpoint folder goes into place through one, so the sweep visits every state a crash can leave
between two writes, with the next write's temporary file (or checkpoint staging folder) left behind.

This process imports batchlab and torch once and runs every command in a forked child (the command
line's own entry point, in-process), so a kill point costs a fraction of a second instead of an
interpreter start. The parent never runs torch itself, so forking it is safe.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from batchlab.cli import app  # after the thread setting

# Imported here once rather than in every child (the command line imports them lazily, in seconds).
PRELOAD = ("batchlab.api", "batchlab.experiment.training", "batchlab.data.sources", "sklearn.datasets", "torch._dynamo")

COMPARED = ("model.safetensors", "test_metrics.json", "checkpoints/best.safetensors", "checkpoints/best.json")


def run_command(args: list[str], log: Path, kill_at: int | None = None, record: Path | None = None) -> int:
    """Run ``batchlab ARGS`` in a forked child; its exit code, or ``-9`` when the kill point struck.

    Args:
        args: the command line after ``batchlab``.
        log: where the child's stdout and stderr go.
        kill_at: SIGKILL the child just before its ``kill_at``-th ``os.replace`` (1-based).
        record: write the targets of every ``os.replace`` of the child here (JSON list) when it exits.
    """
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    code = 1
    try:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        targets: list[str] = []
        original = os.replace

        def counting_replace(src: Any, dst: Any, *rest: Any, **kwargs: Any) -> None:
            if kill_at is not None and len(targets) + 1 == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            targets.append(str(dst))
            original(src, dst, *rest, **kwargs)

        os.replace = counting_replace  # type: ignore[assignment]
        try:
            app(args, prog_name="batchlab")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if record is not None:
            record.write_text(json.dumps(targets))
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def metrics_rows(run: Path) -> list[dict[str, str]]:
    """``metrics.csv`` without the wall-clock column."""
    with (run / "metrics.csv").open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def outcome(run: Path) -> dict[str, Any]:
    """What must not depend on where a run was killed: final files, metrics rows, status, step count."""
    info = json.loads((run / "run.json").read_text())
    files = {name: (run / name).read_bytes() if (run / name).exists() else None for name in COMPARED}
    return {
        "files": files,
        "rows": metrics_rows(run),
        "status": (info.get("status"), info.get("steps"), info.get("stop_reason")),
    }


def leftovers(run: Path) -> list[str]:
    """Temporary files and checkpoint staging folders still in the run directory."""
    return sorted(str(p.relative_to(run)) for p in run.rglob(".*.tmp"))


def sweep(work: Path, config: Path, only: list[int] | None = None) -> dict[str, Any]:
    train = ["train", str(config), "-q", "--no-plots", "--run-dir"]
    clean = work / "clean"
    record = work / "writes.json"
    code = run_command([*train, str(clean)], work / "clean.log", record=record)
    if code != 0:
        return {"error": f"the clean run exited with {code}: {(work / 'clean.log').read_text()[-2000:]}"}
    writes = [str(Path(t).relative_to(clean)) for t in json.loads(record.read_text())]
    expected = outcome(clean)
    points = []
    for n in only or range(1, len(writes) + 1):
        run, log = work / f"kill-{n}", work / f"kill-{n}.log"
        killed = run_command([*train, str(run)], log, kill_at=n)
        # A run killed before its config.yaml exists cannot be resumed: its own command starts it again.
        again = ["train", "--resume", str(run), "-q", "--no-plots"] if (run / "config.yaml").exists() else None
        resumed = run_command(again or [*train, str(run)], log)
        got = outcome(run) if resumed == 0 else None
        differs = [] if got is None else [name for name in COMPARED if got["files"][name] != expected["files"][name]]
        if got is not None and got["rows"] != expected["rows"]:
            differs.append("metrics.csv")
        if got is not None and got["status"] != expected["status"]:
            differs.append("run.json")
        points.append(
            {
                "n": n,
                "before": writes[n - 1],
                "killed": killed,
                "how": "resume" if again else "rerun",
                "resumed": resumed,
                "differs": differs,
                "leftovers": leftovers(run),
                "log": log.read_text()[-1500:] if resumed != 0 or differs else "",
            }
        )
    return {"writes": writes, "rows": len(expected["rows"]), "status": list(expected["status"]), "points": points}


def main() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    work, config = Path(sys.argv[1]), Path(sys.argv[2])
    only = [int(n) for n in sys.argv[4].split(",")] if len(sys.argv) > 4 and sys.argv[3] == "--only" else None
    print(json.dumps(sweep(work, config, only)))


if __name__ == "__main__":
    main()
