"""Try every catalogued bad input on the command line and write docs/bad-inputs.md with what each gets.

    .venv/bin/python scripts/bad_inputs.py            # all cases; rewrites docs/bad-inputs.md
    .venv/bin/python scripts/bad_inputs.py -k 'yaml|disk'  # only cases whose kind or name holds one; no rewrite

Each case of ``scripts/bad_input_cases.py`` runs in-process in a fresh temporary folder. The script
checks that the command exits with the case's expected code, prints no traceback and no stray lines
(warnings of other libraries) on stderr, runs no code from crafted files, and leaves nothing created or
changed besides what the case allows. It ends with one line of counts and exits 1 when any is not 0.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bad_input_cases import CASES, Case
from typer.testing import CliRunner

from batchlab.cli import app
from batchlab.cli.app import set_debug

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@dataclass
class Outcome:
    """What one case got."""

    case: Case
    exit_code: int
    message: str
    traceback: bool
    stray: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    code_ran: bool = False

    @property
    def wrong_exit(self) -> bool:
        return self.exit_code != self.case.exit

    @property
    def ok(self) -> bool:
        return not (self.wrong_exit or self.traceback or self.stray or self.changed or self.code_ran)


def _snapshot(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``root`` (relative) with (is a folder, size, modification time in ns)."""
    found: dict[str, tuple[bool, int, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            try:
                stat = path.lstat()
            except OSError:
                continue
            is_dir = path.is_dir() and not path.is_symlink()
            found[str(path.relative_to(root))] = (
                is_dir,
                0 if is_dir else stat.st_size,
                0 if is_dir else stat.st_mtime_ns,
            )
    return found


def _staging(path: str) -> bool:
    """A temporary file of an atomic write (``.name.XXXX.tmp``) or a staging folder left behind."""
    name = Path(path).name
    return name.endswith(".tmp") or ".staging" in name


def _lock_file(path: str) -> bool:
    """A directory's lock file (``.lock``): taken by every command that writes the directory, left by design."""
    return Path(path).name == ".lock"


def _allowed(path: str, patterns: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") or fnmatch.fnmatch(path, p) for p in patterns)


def run_case(case: Case) -> Outcome:
    """Prepare ``case`` in a fresh temporary folder, run its command in-process and judge what it did."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        cwd = os.getcwd()
        os.chdir(root)
        try:
            args = case.prepare(root)
            before = _snapshot(root)
            set_debug(False)
            with case.fault() if case.fault is not None else contextlib.nullcontext():
                result = runner.invoke(app, args)
            after = _snapshot(root)
        finally:
            os.chdir(cwd)
        err = result.stderr
        lines = [line for line in err.strip().splitlines() if line.strip()]
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        traceback = crashed or "Traceback (most recent call last)" in result.output
        stray = [line for line in lines if not line.startswith("batchlab:")]
        changed = sorted(
            path
            for path in set(before) | set(after)
            if before.get(path) != after.get(path)
            and not _lock_file(path)
            and (not _allowed(path, case.changes) or _staging(path))
        )
        message = " / ".join(lines) if lines else (result.stdout.strip().splitlines() or [""])[-1]
        if crashed:
            message = f"{type(result.exception).__name__}: {result.exception}"
        message = message.replace(str(root), "DIR").replace(folder, "DIR")
        return Outcome(case, result.exit_code, message, traceback, stray, changed, (root / "pwned").exists())


def _row(outcome: Outcome) -> str:
    case = outcome.case
    message = outcome.message.replace("|", "\\|").replace("`", "'")
    notes = []
    if outcome.wrong_exit:
        notes.append(f"EXPECTED EXIT {case.exit}")
    if outcome.traceback:
        notes.append("TRACEBACK")
    if outcome.stray:
        notes.append("STRAY OUTPUT")
    if outcome.changed:
        notes.append("HALF-WRITTEN: " + ", ".join(outcome.changed[:3]))
    if outcome.code_ran:
        notes.append("CODE RAN")
    left = ", ".join(case.changes) if case.changes and case.exit == 0 else "nothing"
    return f"| {case.kind} | {case.name} | {outcome.exit_code} | `{message}` | {'; '.join(notes) or left} |"


def summary(outcomes: list[Outcome]) -> str:
    """The line of counts printed at the end (and checked by CI)."""
    return (
        f"{len(outcomes)} cases: {sum(o.traceback for o in outcomes)} tracebacks, "
        f"{sum(o.wrong_exit for o in outcomes)} wrong exit codes, "
        f"{sum(bool(o.changed) for o in outcomes)} half-written, "
        f"{sum(bool(o.stray) for o in outcomes)} with stray output, "
        f"{sum(o.code_ran for o in outcomes)} ran code"
    )


def main(argv: list[str]) -> int:
    pattern = argv[argv.index("-k") + 1].lower() if "-k" in argv else None
    outcomes = []
    for case in CASES:
        if pattern is not None and not any(p in f"{case.kind} {case.name}".lower() for p in pattern.split("|")):
            continue
        outcome = run_case(case)
        outcomes.append(outcome)
        flag = "" if outcome.ok else "  <-- " + _row(outcome).rsplit("|", 2)[-2].strip()
        print(f"{outcome.exit_code} {case.name}: {outcome.message}{flag}", file=sys.stderr)
    print(summary(outcomes))
    if pattern is None:
        _write_doc(outcomes)
    return 0 if all(o.ok for o in outcomes) else 1


def _write_doc(outcomes: list[Outcome]) -> None:
    path = REPO / "docs" / "bad-inputs.md"
    text = path.read_text() if path.exists() else ""
    head = text.split("<!-- table -->")[0] if "<!-- table -->" in text else HEAD
    path.write_text(
        head
        + "<!-- table -->\n"
        + summary(outcomes)
        + ".\n\n| kind | input | exit | what it prints | left behind |\n|---|---|---|---|---|\n"
        + "\n".join(_row(o) for o in outcomes)
        + "\n"
    )


HEAD = """# Bad inputs and what they get

Every input below was tried on the command line by `scripts/bad_inputs.py` (re-run it to refresh this
table; `scripts/bad_input_cases.py` holds the cases, and `tests/e2e/test_bad_input_catalogue.py` runs
each of them in CI). Each case runs in a fresh folder and is checked for its expected exit code (2 for a
mistake to fix, 0 where the input is accepted as documented, with a warning where it says so), for no
traceback, for no stray lines on stderr (another library's warning), for no code run from crafted files,
and for nothing created or changed besides what the case allows ("left behind"); the line above the
table counts the failures of each kind. Exit codes, limits and behaviours are explained in
[errors.md](errors.md). The property-based tests in `tests/e2e/test_fuzz_inputs.py` (hypothesis)
generate configs and small CSV files, malformed ones included, and check the same rule for each: a valid
run or one `batchlab: error: ...` line.

"""

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
