"""Regenerate every image the README and docs/ show, from fixed seeds: python -m tools.figures

    docs/synth_classes.png         one generated record per class (simulators.synth.plot_classes, seed 0)
    docs/cv_report_thumbnail.png   the figures of cv_report.html of the tiny model trained below
    docs/explained.png             a generated PVC record explained by that model (team_code.reporting.explain)

The two model pictures need a trained model, so this command trains a tiny one with fixed seeds: 300 generated
records (simulators.synth, seed 1, 8-12 s), `train_model.py --folds 3 --epochs 3 --seed 0 --threads 1`. The
pictures show what the report and an explanation look like; the tiny model's scores are far below a full
training's (see docs/results.md). Same code, same CPU type: same pictures.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("synth", "report", "explained")

SYNTH_SEED = 0                 # synth_classes.png: record c of this seed is class c
TRAIN = {"n": 300, "seed": 1, "min_seconds": 8.0, "max_seconds": 12.0}
TRAIN_ARGS = ["--folds", "3", "--epochs", "3", "--seed", "0", "--threads", "1"]
RECORD_SEED, RECORD_SECONDS = 2, 10.0  # the explained record: one PVC record of this seed


def _say(text: str) -> None:
    print(f"figures: {text}", flush=True)


def synth_classes(out: Path) -> Path:
    from simulators import synth

    path = out / "synth_classes.png"
    synth.plot_classes(path, seed=SYNTH_SEED)
    return path


def tiny_model(work: Path) -> Path:
    """Train the tiny model as a user would (train_model.py), once per work folder (a rerun resumes: no work)."""
    from simulators import synth

    train, model = work / "train", work / "model"
    if not (train / f"S{TRAIN['n']:05d}.hea").is_file():
        synth.generate_dataset(train, TRAIN["n"], TRAIN["seed"], TRAIN["min_seconds"], TRAIN["max_seconds"])
    command = [sys.executable, "train_model.py", str(train), str(model), *TRAIN_ARGS, "--quiet", "--no-report"]
    _say("$ " + " ".join(["python", *command[1:]]))
    subprocess.run(command, cwd=ROOT, check=True)
    return model


def report_thumbnail(model: Path, out: Path) -> Path:
    from team_code.reporting import html_report

    page = html_report.write_cv_report(model)
    path = out / "cv_report_thumbnail.png"
    html_report.thumbnail(page, path)
    return path


def explained(model: Path, work: Path, out: Path) -> Path:
    from simulators import synth
    from team_code.inference.ensemble import Ensemble
    from team_code.io.records import write_record
    from team_code.reporting import explain

    rng = np.random.default_rng(RECORD_SEED)
    signal, meta = synth.generate_record(rng, ["PVC"], RECORD_SECONDS, fs=500)
    write_record(work / "explain", "PVC_example", signal, fs=500, age=meta["age"], sex=meta["sex"], labels=["PVC"])
    ensemble = Ensemble.load(model)
    explanation = explain.explain(ensemble, work / "explain" / "PVC_example.hea")
    if "PVC" not in explanation.attributions:  # the record's true class is always drawn, labelled or not
        explanation.attributions.update(explain.attribute(ensemble, explanation.signal, ["PVC"]))
    path = out / "explained.png"
    explain.draw(explanation, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.figures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go (default docs/)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the generated records and the tiny model here (default: a temporary folder)")
    parser.add_argument("--only", choices=FIGURES, action="append",
                        help="draw only this figure (repeatable; default all)")
    args = parser.parse_args(argv)
    chosen = args.only or list(FIGURES)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        if "synth" in chosen:
            _say(f"wrote {synth_classes(args.out)}")
        if "report" in chosen or "explained" in chosen:
            model = tiny_model(work)
            if "report" in chosen:
                _say(f"wrote {report_thumbnail(model, args.out)}")
            if "explained" in chosen:
                _say(f"wrote {explained(model, work, args.out)}")
    _say(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
