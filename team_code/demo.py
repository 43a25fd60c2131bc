"""The whole entry in one command, on generated data: python -m team_code.demo

Generates a training set and two test sets (one from our generator, one from the independently written
second simulator, team_code.altsim), then runs exactly what a challenge user runs: train_model.py, driver.py
and evaluate.py --per-class, printing each command before it runs. Synthetic ECGs show that the pipeline
works and that the classes are learned as physiology; they are not a clinical validation.
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

from team_code import altsim, log, synth

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> None:
    """Run one of the entry's commands as a user would."""
    print(f"\n$ {shlex.join(['python', *args])}", flush=True)
    result = subprocess.run([sys.executable, *args], cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"demo: '{' '.join(args[:1])}' failed with exit code {result.returncode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate data, train, label and score: the entry end to end.")
    parser.add_argument("--workdir", default="demo_run", help="where data, model and outputs go (default demo_run)")
    parser.add_argument("--train", type=int, default=600, help="training records (default 600)")
    parser.add_argument("--test", type=int, default=200, help="records in each test set (default 200)")
    parser.add_argument("--folds", type=int, default=10, help="cross-validation folds (default 10)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fold (default 4, the paper uses 10)")
    parser.add_argument("--seed", type=int, default=0)
    log.add_arguments(parser, quiet_help="no progress bars or per-epoch lines, here and in the commands it runs")
    args = parser.parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    verbosity = ["--quiet"] if args.quiet else ["--verbose"] if args.verbose else []
    work = Path(args.workdir).resolve()
    start = time.perf_counter()
    print(f"demo: generating {args.train} training and 2 x {args.test} test records in {work}", flush=True)
    synth.generate_dataset(work / "train", args.train, seed=args.seed, max_seconds=30)
    synth.generate_dataset(work / "test_synth", args.test, seed=args.seed + 10_000, prefix="T", max_seconds=30)
    altsim.generate_dataset(work / "test_altsim", args.test, seed=args.seed + 20_000)
    _run("train_model.py", str(work / "train"), str(work / "model"), "--folds", str(args.folds),
         "--epochs", str(args.epochs), "--seed", str(args.seed), *verbosity)
    for test in ("test_synth", "test_altsim"):
        _run("driver.py", str(work / "model"), str(work / test), str(work / f"out_{test}"), *verbosity)
        _run("evaluate.py", str(work / test), str(work / f"out_{test}"), str(work / f"scores_{test}.txt"),
             "--per-class", *verbosity)
    print(f"\ndemo: done in {time.perf_counter() - start:.0f} s. test_synth comes from the training generator; "
          "test_altsim from an independently written simulator of the same nine definitions. "
          f"Model and cross-validation report: {work / 'model' / 'cv_report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
