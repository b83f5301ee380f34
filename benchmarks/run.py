"""Run the benchmark suite: every measurement a fresh process, rounds interleaved, a markdown report.

    .venv/bin/python -m benchmarks.run [--rounds 5] [--sections throughput,accuracy,cold,scaling,workloads]
                                       [--systems batchlab,bare,...] [--batches 32,256,2048] [--quick]
                                       [--workloads mlp,cnn,cnn-augment,text-bucketed,text-padded,char-gpt,speech-cnn]

Within a round every job runs once, in an order rotated from round to round; ratios are taken
between jobs of the same round (machines that are shared drift 2-3x between runs, a round does not),
then summarized as the median and the min-max over rounds. The report goes to stdout and to
``benchmarks/results/latest.md`` (with the raw numbers in ``latest.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from benchmarks.systems import SYSTEMS
from benchmarks.twins import SYSTEMS as TWIN_SYSTEMS
from benchmarks.twins import WORKLOADS
from benchmarks.workload import (
    DIGITS_TARGET,
    HIDDEN,
    N_CLASSES,
    N_FEATURES,
    N_SAMPLES,
    digits_data,
    job_environment,
    job_threads,
    scaled_data,
    train_flops_per_sample,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent

Key = tuple[str, ...]


def run_job(args: Sequence[str], timeout: float = 3600) -> dict[str, float]:
    """Run ``python -m benchmarks.job ARGS`` in a fresh process; its last stdout line is the result."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.job", *args],
        cwd=ROOT,
        env=job_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"job {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def timed_process(command: Sequence[str], env: dict[str, str]) -> float:
    """Wall seconds of a whole process, from spawn to exit."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def fmt_range(values: Sequence[float], digits: int = 2, scale: float = 1.0) -> str:
    med, lo, hi = (v * scale for v in summary(values))
    return f"{med:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})"


class Suite:
    """Collects the measurements of every round, keyed by job."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cold_epochs = 0
        self.results: dict[Key, list[dict[str, float]]] = defaultdict(list)
        self.log = sys.stderr

    def say(self, text: str) -> None:
        print(text, file=self.log, flush=True)

    # ------------------------------------------------------------------------------------- jobs

    def jobs(self) -> list[tuple[Key, list[str]]]:
        """(key, job arguments) for the throughput, accuracy and scaling sections."""
        sections, jobs = self.args.sections, []
        if "throughput" in sections:
            jobs.append((("flops",), ["flops"]))
            for batch in self.args.batches:
                for system in self.args.systems:
                    jobs.append((("throughput", system, str(batch)), ["throughput", system, str(batch)]))
        if "accuracy" in sections:
            for system in self.args.systems:
                jobs.append((("accuracy", system), ["accuracy", system]))
        if "workloads" in sections:
            steps = ["--warmup", str(self.args.workload_steps[0]), "--timed", str(self.args.workload_steps[1])]
            for name in self.args.workloads:
                for system in TWIN_SYSTEMS:
                    jobs.append((("workload", name, system), ["workload", name, system, *steps]))
        if "scaling" in sections:
            for samples in self.args.scaling:
                timed = "1" if samples >= 100 * N_SAMPLES else "3"
                job = ["throughput", "batchlab", "256", "--samples", str(samples), "--timed", timed]
                jobs.append((("scaling", str(samples)), job))
        return jobs

    def run(self) -> None:
        jobs = self.jobs()
        cold = "cold" in self.args.sections
        if cold:
            self.cold_epochs = self.prepare_cold()
        for samples in self.args.scaling if "scaling" in self.args.sections else []:
            scaled_data(samples)  # generate outside the timed jobs
        digits_data()
        scaled_data(N_SAMPLES)
        for round_ in range(self.args.rounds):
            shift = round_ % max(1, len(jobs))
            order = jobs[shift:] + jobs[:shift]
            self.say(f"round {round_ + 1}/{self.args.rounds}: {len(order)} jobs{' + cold start' if cold else ''}")
            for key, job in order:
                load = os.getloadavg()[0]
                result = run_job(job)
                result.update(round=round_, load=load)
                self.results[key].append(result)
                self.say(f"  {' '.join(key):40s} {json.dumps({k: round(v, 4) for k, v in result.items()})}")
            if cold:
                self.cold_round(round_)

    # ------------------------------------------------------------------------------- cold start

    def cold_commands(self, run_dir: Path, epochs: int | None) -> dict[str, list[str]]:
        commands = {
            "batchlab train": [str(BIN / "batchlab"), "train", "configs/digits.yaml", "--run-dir", str(run_dir)]
        }
        if epochs is not None:
            out = str(run_dir.parent / "bare-weights.pt")
            commands["bare script"] = [sys.executable, "benchmarks/cold_bare.py", "--epochs", str(epochs), "--out", out]
        return commands

    def cold_env(self) -> dict[str, str]:
        # Python's default is to cache bytecode (a user's second run is warm); this sandbox disables it.
        env = job_environment()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def prepare_cold(self) -> int:
        """One untimed batchlab run: warms caches and tells how many epochs the bare script trains."""
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp) / "run"
            timed_process(self.cold_commands(run_dir, None)["batchlab train"], self.cold_env())
            epochs = int(json.loads((run_dir / "run.json").read_text())["epochs_run"])
        self.say(f"cold start: batchlab train configs/digits.yaml trains {epochs} epochs; the bare script does too")
        return epochs

    def cold_round(self, round_: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            commands = list(self.cold_commands(Path(tmp) / "run", self.cold_epochs).items())
            if round_ % 2:
                commands.reverse()
            for name, command in commands:
                shutil.rmtree(Path(tmp) / "run", ignore_errors=True)
                seconds = timed_process(command, self.cold_env())
                self.results[("cold", name)].append({"seconds": seconds, "round": round_})
                self.say(f"  cold {name:34s} {seconds:.2f} s")

    # ---------------------------------------------------------------------------------- report

    def per_round(self, key: Key, field: str) -> dict[int, float]:
        return {int(r["round"]): r[field] for r in self.results.get(key, [])}

    def ratios(self, key: Key, base: Key, field: str, invert: bool = False) -> list[float]:
        mine, theirs = self.per_round(key, field), self.per_round(base, field)
        pairs = [(mine[r], theirs[r]) for r in mine if r in theirs]
        return [(b / a) if invert else (a / b) for a, b in pairs]

    def report(self) -> str:
        a = self.args
        lines = [
            "## Results",
            "",
            f"- command: `{a.command}`",
            f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {job_threads()} threads "
            f"per job; Python {platform.python_version()}; torch {_version('torch')}; load average at start "
            f"{a.load_start}, at end {a.load_end or ' / '.join(f'{x:.1f}' for x in os.getloadavg())}",
            f"- {a.rounds} interleaved rounds; each cell is the median (min–max over rounds); ratios are taken "
            "within a round",
            f"- 1-minute load average when the jobs started (other work on this shared machine): {self.loads()}",
            "",
        ]
        if "throughput" in a.sections:
            lines += self.throughput_table()
            lines += self.lead_table()
        if "accuracy" in a.sections:
            lines += self.accuracy_table()
        if "cold" in a.sections:
            lines += self.cold_table()
        if "scaling" in a.sections:
            lines += self.scaling_table()
        if "workloads" in a.sections:
            lines += self.workload_table()
        return "\n".join(lines) + "\n"

    def workload_table(self) -> list[str]:
        """Every workload, batchlab against its bare-loop twin (see benchmarks/twins.py)."""
        lines = [
            "### Every workload against its bare-PyTorch-loop twin: training samples/s",
            "",
            "| workload | batchlab | bare loop | batchlab / bare |",
            "|---|---:|---:|---:|",
        ]
        for name in self.args.workloads:
            mine, bare = ("workload", name, "batchlab"), ("workload", name, "bare")
            rates = {k: [r["samples_per_s"] for r in self.results.get(k, [])] for k in (mine, bare)}
            if not rates[mine] or not rates[bare]:
                continue
            ratio = self.ratios(mine, bare, "samples_per_s")
            lines.append(
                f"| {name} | {fmt_range(rates[mine], 0)} | {fmt_range(rates[bare], 0)} | "
                f"{fmt_range(ratio) if ratio else '-'} |"
            )
        return [*lines, ""]

    def loads(self) -> str:
        values = [r["load"] for rows in self.results.values() for r in rows if "load" in r]
        return fmt_range(values, 1) if values else "not recorded"

    def throughput_table(self) -> list[str]:
        widths = (N_FEATURES, *HIDDEN, N_CLASSES)
        flops = train_flops_per_sample(widths)
        gflops = [r["gflops"] for r in self.results[("flops",)]]
        limit = statistics.median(gflops) * 1e9 / flops
        lines = [
            f"### Throughput: training samples/s (MLP {'→'.join(map(str, widths))}, SGD, 54,000 samples, "
            "1 warm-up + 3 timed epochs)",
            "",
            f"FLOP limit: {flops:,} training FLOPs per sample; matmul rate {fmt_range(gflops, 1)} GFLOP/s "
            f"→ at most {limit:,.0f} samples/s.",
            "",
            "| system | batch | samples/s | ratio to bare loop | of FLOP limit |",
            "|---|---:|---:|---:|---:|",
        ]
        for batch in self.args.batches:
            for system in self.args.systems:
                key = ("throughput", system, str(batch))
                rates = [r["samples_per_s"] for r in self.results.get(key, [])]
                if not rates:
                    continue
                ratio = self.ratios(key, ("throughput", "bare", str(batch)), "samples_per_s")
                share = statistics.median(rates) / limit
                lines.append(
                    f"| {system} | {batch} | {fmt_range(rates, 0)} | {fmt_range(ratio) if ratio else '-'} | "
                    f"{share:.1%} |"
                )
        return [*lines, ""]

    def lead_table(self) -> list[str]:
        """batchlab's samples/s over each other system's, per round (the issue's targets are such ratios)."""
        others = [s for s in self.args.systems if s != "batchlab"]
        if "batchlab" not in self.args.systems or not others:
            return []
        lines = [
            "### batchlab's throughput over each system's (ratio within a round; > 1: batchlab is faster)",
            "",
            "| batch | " + " | ".join(others) + " |",
            "|---:|" + "---:|" * len(others),
        ]
        for batch in self.args.batches:
            mine = ("throughput", "batchlab", str(batch))
            cells = [self.ratios(mine, ("throughput", other, str(batch)), "samples_per_s") for other in others]
            lines.append(f"| {batch} | " + " | ".join(fmt_range(c) if c else "-" for c in cells) + " |")
        return [*lines, ""]

    def accuracy_table(self) -> list[str]:
        lines = [
            f"### Time to {DIGITS_TARGET:.0%} validation accuracy on digits (MLP 64→128→10, Adam 1e-3, batch 32)",
            "",
            "Each system with its own thread count: batchlab its thread rule (`train.threads` unset; 1 thread "
            "for this MLP), the torch loops torch's default, scikit-learn its BLAS's; the job's limit is "
            f"{job_threads()}. scikit-learn's clock runs inside `partial_fit` only, batchlab's over all of "
            "`batchlab.fit` (set-up, validation, output).",
            "",
            "| system | seconds | epochs | ratio to scikit-learn |",
            "|---|---:|---:|---:|",
        ]
        for system in self.args.systems:
            key = ("accuracy", system)
            rows = self.results.get(key, [])
            if not rows:
                continue
            reached = [r for r in rows if r["reached"]]
            if not reached:
                lines.append(f"| {system} | not reached in {int(rows[0]['epochs'])} epochs | - | - |")
                continue
            ratio = self.ratios(key, ("accuracy", "sklearn"), "seconds")
            epochs = sorted({int(r["epochs"]) for r in reached})
            lines.append(
                f"| {system} | {fmt_range([r['seconds'] for r in reached])} | "
                f"{'/'.join(map(str, epochs))} | {fmt_range(ratio) if ratio else '-'} |"
            )
        return [*lines, ""]

    def cold_table(self) -> list[str]:
        lines = [
            "### Cold start: a whole `batchlab train configs/digits.yaml` process vs a bare-loop script",
            "",
            f"Both train the same MLP for {self.cold_epochs} epochs (the epochs batchlab's early stopping ran), "
            "validate every epoch, test and save the weights; process wall time, imports included.",
            "",
            "| process | seconds | ratio to bare script |",
            "|---|---:|---:|",
        ]
        for name in ("batchlab train", "bare script"):
            values = [r["seconds"] for r in self.results.get(("cold", name), [])]
            ratio = self.ratios(("cold", name), ("cold", "bare script"), "seconds")
            lines.append(f"| {name} | {fmt_range(values)} | {fmt_range(ratio)} |")
        return [*lines, ""]

    def epoch_seconds(self, samples: int) -> dict[int, float]:
        """Seconds per timed epoch of the scaling job with ``samples``, per round."""
        timed = 1 if samples >= 100 * N_SAMPLES else 3
        return {r: s / timed for r, s in self.per_round(("scaling", str(samples)), "seconds").items()}

    def scaling_table(self) -> list[str]:
        lines = [
            "### Linear cost: batchlab seconds per epoch at batch 256 (90% train, validation every epoch)",
            "",
            "| samples | seconds per epoch | µs per training sample | ratio to proportional |",
            "|---:|---:|---:|---:|",
        ]
        base_samples = self.args.scaling[0]
        base = self.epoch_seconds(base_samples)
        for samples in self.args.scaling:
            mine = self.epoch_seconds(samples)
            if not mine:
                continue
            per_epoch = list(mine.values())
            per_sample = [s / (samples * 0.9) * 1e6 for s in per_epoch]
            ratios = [(mine[r] / samples) / (base[r] / base_samples) for r in mine if r in base]
            lines.append(f"| {samples:,} | {fmt_range(per_epoch)} | {fmt_range(per_sample)} | {fmt_range(ratios)} |")
        return [*lines, ""]


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sections", default="throughput,accuracy,cold,scaling,workloads")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="workloads of the workloads section")
    parser.add_argument(
        "--workload-steps", default="20,200", help="warm-up and timed steps of each workload job (quick: 5,40)"
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--batches", default="32,256,2048")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of every job (torch, BLAS, OpenMP)")
    parser.add_argument("--scaling", default="60000,600000,6000000", help="sample counts of the linear-cost section")
    parser.add_argument("--quick", action="store_true", help="2 rounds, batchlab/bare/dataloader/sklearn only")
    parser.add_argument("--out", default=str(RESULTS), help="folder for latest.md and latest.json")
    parser.add_argument("--report", metavar="JSON", help="only rewrite the report of a saved latest.json")
    args = parser.parse_args()
    if args.report:
        print(rewrite_report(Path(args.report)))
        return
    args.command = "python -m benchmarks.run " + " ".join(sys.argv[1:])
    os.environ["BATCHLAB_BENCH_THREADS"] = str(args.threads)  # read by every job (benchmarks.workload)
    if args.quick:
        args.rounds, args.systems = 2, "batchlab,bare,dataloader,sklearn"
        if args.workload_steps == parser.get_default("workload_steps"):
            args.workload_steps = "5,40"
    args.sections = args.sections.split(",")
    args.workloads = args.workloads.split(",")
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"--workloads: unknown {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    args.workload_steps = [int(v) for v in args.workload_steps.split(",")]
    args.systems = args.systems.split(",")
    if "bare" not in args.systems:
        args.systems.append("bare")
    args.batches = [int(b) for b in args.batches.split(",")]
    args.scaling = [int(s) for s in args.scaling.split(",")]
    args.load_start = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    args.load_end = None

    suite = Suite(args)
    suite.run()
    report = suite.report()
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(report)
    raw = {" ".join(k): v for k, v in suite.results.items()}
    saved = {
        "command": args.command,
        "load_start": args.load_start,
        "load_end": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "cold_epochs": suite.cold_epochs,
        "results": raw,
    }
    (out / "latest.json").write_text(json.dumps(saved, indent=1) + "\n")


def rewrite_report(path: Path) -> str:
    """The report of a saved run (``latest.json``), rewritten beside it as ``latest.md``."""
    saved = json.loads(path.read_text())
    results: dict[Key, list[dict[str, float]]] = defaultdict(list)
    for key, rows in saved["results"].items():
        kind, _, rest = key.partition(" ")
        results[(kind, rest) if kind == "cold" else tuple(key.split(" "))] = rows  # cold names hold spaces
    keys = list(results)
    args = argparse.Namespace(
        command=saved["command"],
        load_start=saved.get("load_start", "not recorded"),
        load_end=saved.get("load_end", "not recorded"),
        rounds=1 + max(int(r["round"]) for rows in results.values() for r in rows),
        sections=[{"workload": "workloads"}.get(k, k) for k in dict.fromkeys(k[0] for k in keys if k[0] != "flops")],
        systems=list(dict.fromkeys(k[1] for k in keys if k[0] in ("throughput", "accuracy"))),
        batches=sorted({int(k[2]) for k in keys if k[0] == "throughput"}),
        scaling=sorted({int(k[1]) for k in keys if k[0] == "scaling"}),
        workloads=list(dict.fromkeys(k[1] for k in keys if k[0] == "workload")),
    )
    suite = Suite(args)
    suite.results = results
    suite.cold_epochs = int(saved.get("cold_epochs", 0))
    report = suite.report()
    path.with_suffix(".md").write_text(report)
    return report


if __name__ == "__main__":
    main()
