"""One self-contained HTML report (figures inlined as PNG) of a scored set of records: the cross-validation of a
MODEL_DIR (cv_report.html, built from the files training leaves there) or a test set scored by evaluate.py.

    python -m team_code.reporting.html_report MODEL_DIR        # (re)build MODEL_DIR/cv_report.html and cv_scores.json
"""
from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from team_code import class_sets, log
from team_code.io.atomic import atomic_path, write_text
from team_code.labels import CLASSES  # the default: cpsc2018
from team_code.reporting import plots
from team_code.scoring import bootstrap
from team_code.scoring.f2g2 import BETA
from team_code.training.cv_results import FoldResult
from team_code.training.thresholds import apply_thresholds

logger = logging.getLogger(__name__)


class ReportError(ValueError):
    """The files a report is built from are missing or malformed; the message names the file and the reason."""


@dataclass
class ScoredSet:
    """Records with their true labels, output probabilities and binary outputs (records x classes)."""

    title: str
    classes: list[str]
    labels: np.ndarray
    probabilities: np.ndarray
    binary: np.ndarray
    thresholds: np.ndarray
    threshold_note: str
    fold_of: np.ndarray | None = None     # cross-validation: each record's validation fold
    folds: list[dict] | None = None       # cross-validation: each fold's training history


def read_oof(path: Path, classes: Sequence[str] = CLASSES) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(names, fold of each record, labels, out-of-fold probabilities to 6 decimals) from MODEL_DIR/oof.csv."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise ReportError(f"{path}: cannot read ({error.strerror or error})") from None
    expected = ["record", "fold", *(f"label_{c}" for c in classes), *(f"prob_{c}" for c in classes)]
    if not rows or rows[0] != expected:
        raise ReportError(f"{path}: header is not {','.join(expected)}")
    try:
        body = np.array([[float(v) for v in row[1:]] for row in rows[1:]],
                        dtype=np.float64).reshape(-1, 1 + 2 * len(classes))
    except ValueError:
        raise ReportError(f"{path}: every row needs a record name, a fold and {2 * len(classes)} numbers") from None
    if not len(body):
        raise ReportError(f"{path}: no records")
    k = len(classes)
    return [row[0] for row in rows[1:]], body[:, 0].astype(int), body[:, 1:1 + k] > 0.5, body[:, 1 + k:]


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportError(f"{path}: cannot read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ReportError(f"{path}: expected a JSON object")
    return value


def from_model_dir(model_dir: str | Path) -> ScoredSet:
    """The cross-validation of a finished MODEL_DIR: records, folds and labels from oof.csv, the thresholds, and
    each fold's history and full-precision validation probabilities from fold_K.json (oof.csv rounds them to 6
    decimals, which can merge ties and move AUROC in the 4th decimal; these are the values cv_report.json used)."""
    model_dir = Path(model_dir)
    classes = _classes_of(model_dir)
    names, fold_of, labels, probabilities = read_oof(model_dir / "oof.csv", classes)
    tuned = _read_json(model_dir / "thresholds.json")
    try:
        thresholds = np.array([float(tuned[c]) for c in classes])
    except (KeyError, TypeError, ValueError):
        raise ReportError(f"{model_dir / 'thresholds.json'}: needs a number for each of {', '.join(classes)}") from None
    row = {name: i for i, name in enumerate(names)}
    means = probabilities.copy()  # the at-least-one-label rule's fallback (FoldResult.window_means)
    folds = []
    for fold in range(int(fold_of.max()) + 1):
        path = model_dir / f"fold_{fold}.json"
        data = _read_json(path)  # its own one-line error for a missing or damaged file
        try:
            result = FoldResult.from_json(data)
            rows = [row[name] for name in result.records]
            if (sorted(rows) != np.flatnonzero(fold_of == fold).tolist()
                    or result.probabilities.shape != (len(rows), len(classes))
                    or result.window_means.shape != result.probabilities.shape):
                raise ValueError
            probabilities[rows] = result.probabilities
            means[rows] = result.window_means
            folds.append({"fold": result.fold, "best_epoch": result.best_epoch,
                          "best_val_cross_entropy": result.best_val_cross_entropy, "history": result.history})
        except (KeyError, TypeError, ValueError):
            raise ReportError(f"{path}: its records, probabilities or history do not match oof.csv") from None
    return ScoredSet(f"Cross-validation report: {model_dir.resolve().name}", list(classes), labels, probabilities,
                     apply_thresholds(probabilities, thresholds, means), thresholds, "tuned threshold", fold_of, folds)


def _classes_of(model_dir: Path) -> tuple[str, ...]:
    """The classes of the model's class set (config.json; cpsc2018 when it names none)."""
    name = _read_json(model_dir / "config.json").get("class_set", class_sets.DEFAULT)
    try:
        return class_sets.get(name).classes
    except (ValueError, TypeError):
        raise ReportError(f"{model_dir / 'config.json'}: unknown class set {name!r}") from None


def thresholds_from_outputs(probabilities: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """Each class's threshold as the outputs reveal it: the lowest probability at which the class was labelled,
    leaving out records where it was the only label and the most probable class (the at-least-one-label rule
    may have switched those on below the threshold). NaN for a class never labelled."""
    probabilities, binary = np.asarray(probabilities), np.asarray(binary, dtype=bool)
    by_rule = (binary.sum(axis=1) == 1)[:, None] & (probabilities == probabilities.max(axis=1, keepdims=True))
    estimate = np.full(binary.shape[1], np.nan)
    for k in range(binary.shape[1]):
        for chosen in (binary[:, k] & ~by_rule[:, k], binary[:, k]):
            if chosen.any():
                estimate[k] = probabilities[chosen, k].min()
                break
    return estimate


def from_scores(scores: dict, title: str) -> ScoredSet:
    """A test set scored by metrics.evaluate (its labels, probabilities and binary outputs)."""
    return ScoredSet(title, list(scores["classes"]), np.asarray(scores["labels"], dtype=bool),
                     np.asarray(scores["probabilities"], dtype=np.float64), np.asarray(scores["binary"], dtype=bool),
                     thresholds_from_outputs(scores["probabilities"], scores["binary"]),
                     "threshold read from the outputs")


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _score_table(rows: list[tuple[str, dict]]) -> str:
    head = "".join(f"<th>{name}</th>" for _, name in bootstrap.SCORES)
    lines = [f"<table><tr><th>records</th><th>n</th>{head}</tr>"]
    for label, summary in rows:
        cells = "".join(f"<td>{summary['scores'][key]:.3f}<br><small>{lo:.3f}&ndash;{hi:.3f}</small></td>"
                        for key, _ in bootstrap.SCORES for lo, hi in [summary["ci95"][key]])
        lines.append(f"<tr><th>{html.escape(label)}</th><td>{summary['records']}</td>{cells}</tr>")
    return "\n".join(lines) + "</table>"


STYLE = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f4f4f4}small{color:#666}img{max-width:100%;display:block;margin:0.5em 0}h2{margin-top:1.6em}"""


def build(scored: ScoredSet, draws: int = bootstrap.DRAWS, seed: int = 0) -> tuple[str, dict]:
    """The HTML page and the numbers in it (scores, intervals and contingency tables per fold and pooled)."""
    fold_of = scored.fold_of if scored.fold_of is not None else np.zeros(len(scored.labels), dtype=int)
    numbers = bootstrap.per_fold_and_pooled(scored.labels, scored.probabilities, scored.binary, fold_of, draws, seed)
    numbers["classes"] = scored.classes
    numbers["thresholds"] = [None if np.isnan(t) else float(t) for t in scored.thresholds]
    cross_validation = scored.fold_of is not None
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(scored.title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(scored.title)}</h1>",
             f"<p>{len(scored.labels)} records. Scores are the official PhysioNet/CinC 2020 definitions (macro over "
             f"{len(scored.classes)} classes); below each, the 95 % bootstrap confidence interval ({draws} resamples "
             f"of the records with replacement, seed {seed}, percentile method).</p>", "<h2>Scores</h2>"]
    rows = [(f"fold {f['fold'] + 1}", f) for f in numbers["folds"]] if cross_validation else []
    parts.append(_score_table(rows + [("all (pooled out-of-fold)" if cross_validation else "all", numbers["pooled"])]))
    if cross_validation:
        parts.append("<p>Every fold is scored on its own validation records with the same tuned thresholds; the "
                     "folds' contingency tables add up to the pooled one (cv_scores.json holds them).</p>")
    weight = plots.record_weights(scored.labels)
    per_class = ["<table><tr><th>class</th><th>n</th><th>threshold</th><th>precision</th><th>recall</th>"
                 "<th>F2</th><th>G2</th></tr>"]
    tables = {k: np.asarray(v) for k, v in numbers["pooled"]["counts"].items()}
    for k, cls in enumerate(scored.classes):
        tp, fp, fn = tables["tp"][k], tables["fp"][k], tables["fn"][k]
        f2 = bootstrap.ratio((1 + BETA**2) * tp, (1 + BETA**2) * tp + BETA**2 * fn + fp)
        g2 = bootstrap.ratio(tp, tp + fp + BETA * fn)
        t = scored.thresholds[k]
        per_class.append(f"<tr><th>{cls}</th><td>{int(scored.labels[:, k].sum())}</td>"
                         f"<td>{'&ndash;' if np.isnan(t) else f'{t:.3f}'}</td>"
                         f"<td>{bootstrap.ratio(tp, tp + fp):.3f}</td><td>{bootstrap.ratio(tp, tp + fn):.3f}</td>"
                         f"<td>{f2:.3f}</td><td>{g2:.3f}</td></tr>")
    parts += ["<h2>Per class</h2>", "\n".join(per_class) + "</table>",
              "<p>Curves: scikit-learn's ROC and precision-recall curves of the "
              f"{'out-of-fold ' if cross_validation else ''}"
              f"probabilities; the red dot is the operating point of the binary outputs that were scored. Right: the "
              f"class's F2 and G2 if its threshold alone were moved (the {scored.threshold_note} dashed).</p>"]
    for k, cls in enumerate(scored.classes):
        threshold = None if np.isnan(scored.thresholds[k]) else float(scored.thresholds[k])
        fig = plots.class_curves(cls, scored.labels[:, k], scored.probabilities[:, k], scored.binary[:, k],
                                 threshold, weight, scored.threshold_note)
        parts.append(_image(plots.png_bytes(fig), f"{cls} curves"))
    parts += ["<h2>Where the misses went</h2>", _image(plots.png_bytes(
        plots.miss_heatmap(scored.classes, scored.labels, scored.binary)), "miss heat map"),
              "<p>Row i, column j: records of true class i that were not labelled i but were labelled j.</p>"]
    if scored.folds:
        parts += ["<h2>Training curves</h2>",
                  _image(plots.png_bytes(plots.training_curves(scored.folds)), "training curves"),
                  "<p>Per fold: mean training loss and validation categorical cross-entropy after each epoch; the "
                  "star marks the epoch whose weights were kept (lowest validation cross-entropy).</p>"]
    parts.append("</body></html>")
    return "\n".join(parts), numbers


def write(path: str | Path, scored: ScoredSet, draws: int = bootstrap.DRAWS, seed: int = 0) -> dict:
    """Write the HTML report atomically; returns the numbers in it."""
    page, numbers = build(scored, draws, seed)
    write_text(path, page)
    return numbers


def write_cv_report(model_dir: str | Path, draws: int = bootstrap.DRAWS, seed: int = 0) -> Path:
    """MODEL_DIR/cv_report.html and MODEL_DIR/cv_scores.json (per-fold and pooled scores with intervals)."""
    model_dir = Path(model_dir)
    numbers = write(model_dir / "cv_report.html", from_model_dir(model_dir), draws, seed)
    write_text(model_dir / "cv_scores.json", json.dumps(numbers, indent=1))
    return model_dir / "cv_report.html"


def thumbnail(page_path: str | Path, png_path: str | Path, columns: int = 3) -> None:
    """A contact sheet of an HTML report: its pooled score line and every inlined figure, shrunk, in one PNG
    (no browser is needed, so the README's picture of the report is made by a command anyone can run)."""
    from team_code.reporting.plots import plt

    page = Path(page_path).read_text(encoding="utf-8")
    images = [plt.imread(io.BytesIO(base64.b64decode(data)), format="png")
              for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image in zip(axes.ravel(), images):
        ax.imshow(image)
    title = re.search(r"<title>(.*?)</title>", page)
    fig.suptitle(f"{html.unescape(title.group(1)) if title else Path(page_path).name}: the figures of "
                 f"{Path(page_path).name}", fontsize=12)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=70)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m team_code.reporting.html_report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="a MODEL_DIR written by train_model.py")
    parser.add_argument("--draws", type=int, default=bootstrap.DRAWS, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--thumbnail", metavar="FILE.png", help="also draw the report's figures into one PNG")
    log.add_arguments(parser)
    args = parser.parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    if args.draws < 1:
        parser.error("--draws must be at least 1")
    start = time.perf_counter()
    try:
        path = write_cv_report(args.model_dir, args.draws, args.seed)
    except ReportError as error:
        logger.error(f"error: {error}")
        return 1
    logger.info(f"wrote {path} in {time.perf_counter() - start:.1f} s")
    if args.thumbnail:
        thumbnail(path, args.thumbnail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
