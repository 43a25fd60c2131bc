"""The whole entry in one command, on generated data: python -m tools.demo [--quick]

Generates a training set and two test sets (one from our generator, one from the independently written
second simulator, simulators.altsim), then runs exactly what a challenge user runs: train_model.py, driver.py
and evaluate.py --per-class, printing each command before it runs. Synthetic ECGs show that the pipeline
works and that the classes are learned as physiology; they are not a clinical validation.

Progress: each step starts with a line stating the clock time, the time elapsed and the estimated time left;
while a step runs, one line on stderr (redrawn in place on a terminal, every PERIODIC_SECONDS otherwise) says how
far the whole demo is. The estimate is the steps' expected cost (record counts x folds x epochs times the CPU
seconds per unit measured on a reference machine, COSTS) scaled by how fast the finished work actually went:
records written, fold_K.json files of finished folds and output files written are counted as they appear.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from simulators import altsim, synth
from team_code import log

ROOT = Path(__file__).resolve().parents[1]
PERIODIC_SECONDS = 60.0  # how often the progress line is repeated when stderr is not a terminal
REDRAW_SECONDS = 1.0     # how often it is redrawn on a terminal (and the counted files are looked at)
PRIOR_SECONDS = 10.0     # the expected costs count as this much measured work when the speed is estimated


@dataclass(frozen=True)
class Settings:
    """The sizes that decide what the demo costs and scores."""

    train: int
    test: int
    folds: int
    epochs: int

    def cells(self) -> str:
        """The README table's settings columns: records (train / each test set), folds x epochs."""
        return f"| {self.train} / 2 × {self.test} | {self.folds} × {self.epochs} |"


DEFAULT = Settings(train=600, test=200, folds=10, epochs=4)
QUICK = Settings(train=150, test=60, folds=3, epochs=3)  # about 1 min of CPU work: under 3 min on 2 busy cores

# Expected cost of each unit of work: single-core CPU seconds on the 2-core AMD EPYC, each step run alone under
# `taskset -c 0 /usr/bin/time` (CPU time barely depends on what else runs; wall time does). On 2 idle cores the
# demo takes less than their sum; on a busy machine more. Only their ratios matter once work has been measured.
COSTS = {
    "synth_record": 0.02,          # one generated synth record of 6-30 s
    "altsim_record": 0.055,        # one altsim record of 8-30 s
    "python_start": 2.5,           # starting Python and importing torch, in every command
    "cache_record": 0.01,          # reading and preprocessing one record into train_model.py's cache
    "epoch_record": 0.02,          # one trained record through one epoch, its share of validation included;
                                   # a fold costs epochs + 1 of these per record (+1: the measurement read's fit)
    "train_end": 8.0,              # threshold tuning, cv_report.md, cv_report.html's figures and intervals
    "model_load": 0.1,             # driver.py loading one fold's model
    "predict_record_fold": 0.01,   # one test record through one fold's model, reading the file included
    "evaluate": 1.0,               # evaluate.py on one test set, start-up included
}
# Each torch thread that finds no work spins for a while before it sleeps (OpenMP's active wait). Where the two
# cores are shared with other jobs, the spinning takes them: train_model.py on 120 records (2 folds x 3 epochs)
# took 158 s with the default and 46 s with passive waiting, on the 2-core EPYC at load 9. The commands the demo
# runs get passive waiting unless the user set OMP_WAIT_POLICY; the command line it prints says so.
THREAD_WAIT = {"OMP_WAIT_POLICY": "PASSIVE"}


@dataclass
class Step:
    """One step of the demo and its expected cost: `first` seconds before its first unit can be counted (start-up),
    `per_unit` per counted unit, `last` after the last one; count() says how many units are done."""

    title: str
    run: Callable[[], None]
    units: int = 0
    first: float = 0.0
    per_unit: float = 0.0
    last: float = 0.0
    count: Callable[[], int] | None = None
    unit_name: str = ""

    @property
    def cost(self) -> float:
        return self.first + self.units * self.per_unit + self.last

    def done_cost(self, done: int) -> float:
        """Expected cost of the work shown finished by `done` counted units."""
        done = min(done, self.units)
        return 0.0 if done <= 0 else self.first + done * self.per_unit

    def next_unit_cost(self, done: int) -> float:
        """Expected cost of the unit in progress after `done` counted units (the tail after the last one)."""
        if not self.units:
            return self.cost
        if done <= 0:
            return self.first + self.per_unit
        return self.per_unit if done < self.units else self.last


def clock_text(seconds: float) -> str:
    """0:42, 12:05, 1:02:03."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def duration_text(seconds: float) -> str:
    """'2 min 41 s' or '48 s', as the README states wall times."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


class Progress:
    """Tracks the steps against a clock and writes the progress lines; every write goes through `say` and `show`,
    which keep one redrawn line on a terminal clean of other output."""

    def __init__(self, out: IO[str], err: IO[str], tty: bool, enabled: bool = True, width: int = 80,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.out, self.err, self.tty, self.enabled, self.width = out, err, tty, enabled, width
        self.clock, self.wall = clock, wall
        self.start = clock()
        self.steps: list[Step] = []
        self.total = 0.0
        self.current = 0           # index of the step running (len(steps) when all are done)
        self.done_units = 0        # counted units of the current step
        self.event_time = 0.0      # elapsed seconds when progress was last measured
        self.event_done = 0.0      # expected cost of the work finished then
        self.last_periodic = 0.0
        self.shown = False         # whether a redrawn line is on the terminal now
        self.lock = threading.RLock()
        self.durations: list[float] = []

    def plan(self, steps: list[Step]) -> None:
        """The steps to run, before the first begins."""
        self.steps, self.total = steps, sum(s.cost for s in steps)

    def elapsed(self) -> float:
        return self.clock() - self.start

    def speed(self) -> float:
        """Measured seconds per expected second, the expectation weighted in as PRIOR_SECONDS of work."""
        return (self.event_time + PRIOR_SECONDS) / (self.event_done + PRIOR_SECONDS)

    def remaining(self) -> float:
        """Estimated seconds left: the unmeasured expected cost at the measured speed, less the time spent on the
        unit in progress. A unit that overruns its expected cost counts as a measurement that the speed is at
        least that slow, so the ETA grows while it runs instead of stalling."""
        if self.current >= len(self.steps):
            return 0.0
        factor, spent = self.speed(), self.elapsed() - self.event_time
        unit = self.steps[self.current].next_unit_cost(self.done_units)
        if spent <= factor * unit:
            return max(0.0, self.total - self.event_done - spent / factor) * factor
        slower = (self.elapsed() + PRIOR_SECONDS) / (self.event_done + unit + PRIOR_SECONDS)
        return max(0.0, self.total - self.event_done - unit) * slower

    def fraction(self) -> float:
        """Share of the expected cost measured as finished."""
        return self.event_done / self.total if self.total else 1.0

    def _measure(self) -> None:
        step = self.steps[self.current]
        done = min(step.count(), step.units) if step.count else 0
        if done != self.done_units:
            self.done_units = done
            self.event_time = self.elapsed()
            self.event_done = sum(s.cost for s in self.steps[:self.current]) + step.done_cost(done)

    def line(self) -> str:
        """The progress line, most important first: a terminal narrower than it cuts the step's details."""
        step = self.steps[min(self.current, len(self.steps) - 1)]
        units = f": {self.done_units}/{step.units} {step.unit_name}" if step.unit_name else ""
        return (f"demo {100 * self.fraction():3.0f}% ETA {clock_text(self.remaining())} "
                f"({clock_text(self.elapsed())} elapsed) | step {self.current + 1}/{len(self.steps)} "
                f"{step.title}{units}")

    def show(self) -> None:
        """Measure the current step and write the progress line: redrawn on a terminal, else once a period."""
        with self.lock:
            if self.current >= len(self.steps):
                return
            self._measure()
            if not self.enabled:
                return
            if self.tty:
                self.err.write("\r\x1b[K" + self.line()[:self.width - 1])  # a wrapped line would not be redrawn
                self.shown = True
            elif self.elapsed() - self.last_periodic >= PERIODIC_SECONDS:
                self.err.write(self.line() + "\n")
                self.last_periodic = self.elapsed()
            self.err.flush()

    def clear(self) -> None:
        """Take the redrawn line off the terminal."""
        with self.lock:
            if self.shown:
                self.err.write("\r\x1b[K")
                self.err.flush()
                self.shown = False

    def say(self, text: str, stream: IO[str] | None = None) -> None:
        """Print a line of the demo's (or a command's) output without tearing the progress line."""
        with self.lock:
            self.clear()
            stream = stream or self.out
            stream.write(text if text.endswith("\n") else text + "\n")
            stream.flush()

    def begin(self, index: int) -> None:
        """Start step `index`: its timestamped line (clock time, elapsed, ETA)."""
        with self.lock:
            self.current, self.done_units = index, 0
            self.last_periodic = self.elapsed()
            stamp = time.strftime("%H:%M:%S", time.localtime(self.wall()))
            self.say(f"\n[{stamp}] step {index + 1}/{len(self.steps)}: {self.steps[index].title} "
                     f"({clock_text(self.elapsed())} elapsed, ETA {clock_text(self.remaining())})")

    def end(self, index: int) -> None:
        """Finish step `index`: its work counts as measured."""
        with self.lock:
            self.event_time = self.elapsed()
            self.event_done = sum(s.cost for s in self.steps[:index + 1])
            self.durations.append(self.event_time - sum(self.durations))
            self.current = index + 1

    @contextmanager
    def running(self) -> Iterator[None]:
        """Redraw (or periodically print) the progress line from a background thread while the body runs."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(REDRAW_SECONDS):
                self.show()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.clear()

    def run(self, steps: list[Step]) -> None:
        """Run the steps in order under the progress line."""
        self.plan(steps)
        with self.running():
            for index, step in enumerate(self.steps):
                self.begin(index)
                step.run()
                self.end(index)


def count_new(directory: Path, pattern: str, since: float) -> Callable[[], int]:
    """A counter of the files matching `pattern` in `directory` written at or after `since` (so that files an
    earlier run left there do not count as progress)."""
    def count() -> int:
        try:
            return sum(1 for p in directory.glob(pattern) if p.stat().st_mtime >= since)
        except OSError:  # a file replaced while it was looked at
            return 0
    return count


def _run_command(progress: Progress, args: list[str], relay: bool) -> None:
    """Run one of the entry's commands as a user would, printing it first; with relay its output goes through
    progress.say line by line (the progress line stays intact), otherwise straight to the terminal."""
    added = {k: v for k, v in THREAD_WAIT.items() if k not in os.environ}
    progress.say("$ " + " ".join([*(f"{k}={v}" for k, v in added.items()), shlex.join(["python", *args])]))
    env = {**os.environ, **added}
    if not relay:
        code = subprocess.run([sys.executable, *args], cwd=ROOT, env=env).returncode
    else:
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"}, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def pump(source: IO[str], target: IO[str]) -> None:
            for text in source:
                progress.say(text, target)

        threads = [threading.Thread(target=pump, args=(process.stdout, progress.out), daemon=True),
                   threading.Thread(target=pump, args=(process.stderr, progress.err), daemon=True)]
        for thread in threads:
            thread.start()
        code = process.wait()
        for thread in threads:
            thread.join()
    if code != 0:
        raise SystemExit(f"demo: '{args[0]}' failed with exit code {code}")


def build_steps(work: Path, s: Settings, seed: int, run_command: Callable[[list[str]], None],
                child_flags: list[str], since: float) -> list[Step]:
    """The demo's steps with their expected costs (COSTS x record counts x folds x epochs)."""
    c = COSTS
    trained_per_fold = s.train * (s.folds - 1) / s.folds
    steps = [
        Step(f"generate {s.train} training records (synth)",
             lambda: synth.generate_dataset(work / "train", s.train, seed=seed, max_seconds=30),
             units=s.train, per_unit=c["synth_record"], unit_name="records",
             count=count_new(work / "train", "*.mat", since)),
        Step(f"generate {s.test} test records (synth)",
             lambda: synth.generate_dataset(work / "test_synth", s.test, seed=seed + 10_000, prefix="T",
                                            max_seconds=30),
             units=s.test, per_unit=c["synth_record"], unit_name="records",
             count=count_new(work / "test_synth", "*.mat", since)),
        Step(f"generate {s.test} test records (altsim)",
             lambda: altsim.generate_dataset(work / "test_altsim", s.test, seed=seed + 20_000),
             units=s.test, per_unit=c["altsim_record"], unit_name="records",
             count=count_new(work / "test_altsim", "*.mat", since)),
        Step(f"train {s.folds} folds x {s.epochs} epochs",
             lambda: run_command(["train_model.py", str(work / "train"), str(work / "model"), "--folds", str(s.folds),
                                  "--epochs", str(s.epochs), "--seed", str(seed), *child_flags]),
             units=s.folds, first=c["python_start"] + s.train * c["cache_record"],
             per_unit=(s.epochs + 1) * trained_per_fold * c["epoch_record"], last=c["train_end"],
             unit_name="folds done", count=count_new(work / "model", "fold_*.json", since)),
    ]
    for test in ("test_synth", "test_altsim"):
        steps.append(Step(
            f"label {test}",
            lambda test=test: run_command(["driver.py", str(work / "model"), str(work / test),
                                           str(work / f"out_{test}"), *child_flags]),
            units=s.test, first=c["python_start"] + s.folds * c["model_load"],
            per_unit=s.folds * c["predict_record_fold"], unit_name="records",
            count=count_new(work / f"out_{test}", "*.csv", since)))
        steps.append(Step(
            f"score {test}",
            lambda test=test: run_command(["evaluate.py", str(work / test), str(work / f"out_{test}"),
                                           str(work / f"scores_{test}.txt"), "--per-class", *child_flags]),
            last=c["evaluate"]))
    return steps


def read_scores(work: Path) -> dict[str, tuple[float, float]]:
    """(F2, G2) of the cross-validation (cv_report.json) and of each test set (evaluate.py's scores file)."""
    report = json.loads((work / "model" / "cv_report.json").read_text())
    scores = {"cv": (float(report["f2"]), float(report["g2"]))}
    for test in ("test_synth", "test_altsim"):
        names, values = (work / f"scores_{test}.txt").read_text().splitlines()[:2]
        row = dict(zip(names.split("|"), values.split("|")))
        scores[test] = (float(row["Fbeta-measure"]), float(row["Gbeta-measure"]))
    return scores


def readme_row(command: str, settings: Settings, seconds: float, scores: dict[str, tuple[float, float]]) -> str:
    """The README's row for one run: command, settings, wall time, CV, synth and altsim F2 / G2."""
    return (f"| `{command}` {settings.cells()} {duration_text(seconds)} | "
            + " | ".join(f"{scores[k][0]:.3f} / {scores[k][1]:.3f}" for k in ("cv", "test_synth", "test_altsim"))
            + " |")


def _command_text(argv: list[str]) -> str:
    """The command as the user typed it, less --workdir and the verbosity flags (they do not change the numbers)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workdir":
            skip = True
        elif not arg.startswith("--workdir=") and arg not in ("--quiet", "--verbose"):
            kept.append(arg)
    return shlex.join(["python", "-m", "tools.demo", *kept])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate data, train, label and score: the entry end to end.")
    parser.add_argument("--workdir", default="demo_run", help="where data, model and outputs go (default demo_run)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.train} training and 2 x {QUICK.test} test records, {QUICK.folds} folds x "
                        f"{QUICK.epochs} epochs: under 3 minutes on 2 cores")
    parser.add_argument("--train", type=int, default=None, help=f"training records (default {DEFAULT.train})")
    parser.add_argument("--test", type=int, default=None, help=f"records in each test set (default {DEFAULT.test})")
    parser.add_argument("--folds", type=int, default=None, help=f"cross-validation folds (default {DEFAULT.folds})")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs per fold (default {DEFAULT.epochs}, the paper uses 10)")
    parser.add_argument("--seed", type=int, default=0)
    log.add_arguments(parser, quiet_help="no progress line; the commands it runs get --quiet too (they always do "
                      "unless --verbose)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    settings = Settings(*(getattr(args, name) if getattr(args, name) is not None else getattr(base, name)
                          for name in ("train", "test", "folds", "epochs")))
    log.configure(quiet=not args.verbose, verbose=args.verbose)  # the progress line replaces in-process bars
    work = Path(args.workdir).resolve()
    # --verbose lets the commands write their bars and per-epoch lines to the terminal, so the demo's own
    # progress is then printed as periodic lines, never redrawn over theirs.
    tty = sys.stderr.isatty() and not args.verbose
    progress = Progress(sys.stdout, sys.stderr, tty=tty, enabled=not args.quiet,
                        width=shutil.get_terminal_size().columns)
    # Files older than the start (less a second of timestamp granularity) are an earlier run's, not progress.
    steps = build_steps(work, settings, args.seed,
                        lambda command: _run_command(progress, command, relay=not args.verbose),
                        ["--verbose"] if args.verbose else ["--quiet"], since=time.time() - 1)
    progress.say(f"demo: {settings.train} training and 2 x {settings.test} test records, {settings.folds} folds x "
                 f"{settings.epochs} epochs, in {work}. The ETA starts from the CPU time the steps took on one core "
                 "of a reference machine and follows the measured progress.")
    progress.run(steps)
    seconds = progress.elapsed()
    scores = read_scores(work)
    progress.say(f"\ndemo: done in {duration_text(seconds)}. Steps: "
                 + "; ".join(f"{s.title} {duration_text(d)}" for s, d in zip(steps, progress.durations)) + ".")
    progress.say("test_synth comes from the training generator; test_altsim from an independently written "
                 f"simulator of the same nine definitions. Model and cross-validation report: "
                 f"{work / 'model' / 'cv_report.md'}")
    progress.say("README row (command | train / test records | folds × epochs | wall time | CV, synth, altsim "
                 f"F2 / G2):\n{readme_row(_command_text(argv), settings, seconds, scores)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
