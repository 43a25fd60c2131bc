"""cv_report.html / cv_scores.json from a trained MODEL_DIR, evaluate.py --report, and the bootstrap behind them."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from team_code.io.output_csv import write_output
from team_code.io.records import STANDARD_LEADS
from team_code.labels import CLASSES
from team_code.reporting import html_report
from team_code.scoring import bootstrap, score_folders
from team_code.training.thresholds import apply_thresholds

ROOT = Path(__file__).resolve().parents[1]


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=600)


def inlined_images(page: str) -> list[np.ndarray]:
    return [matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")
            for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def assert_drawn(image: np.ndarray) -> None:
    """A decoded PNG with something drawn on it: many pixels differ from the background colour."""
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    rgb = image[..., :3].reshape(-1, 3)
    background = np.median(rgb, axis=0)
    assert np.mean(np.abs(rgb - background).sum(axis=1) > 0.1) > 0.01


def random_set(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels with some multi-label records and one class never present; probabilities with ties, 0s and 1s."""
    labels = np.zeros((n, 9), dtype=bool)
    labels[np.arange(n), rng.integers(0, 8, n)] = True
    labels[rng.random(n) < 0.1, 4] = True
    probabilities = np.round(np.clip(labels * 0.4 + rng.random((n, 9)) * 0.7, 0, 1), 2)
    return labels, probabilities, apply_thresholds(probabilities, np.full(9, 0.5))


def test_vectorised_resamples_score_exactly_as_the_official_code() -> None:
    rng = np.random.default_rng(7)
    labels, probabilities, binary = random_set(rng, 80)
    multiplicity = bootstrap.resample_counts(80, 40, seed=3)
    assert (multiplicity.sum(axis=1) == 80).all()
    fast = bootstrap.resampled_scores(labels, probabilities, binary, multiplicity)
    for draw, counts in enumerate(multiplicity):
        pick = np.repeat(np.arange(80), counts)
        official = bootstrap.scores(labels[pick], probabilities[pick], binary[pick])
        for key, value in official.items():
            assert fast[key][draw] == pytest.approx(value, abs=1e-12), (key, draw)


def test_intervals_are_seeded_and_narrow_with_more_records() -> None:
    rng = np.random.default_rng(1)
    small, large = random_set(rng, 60), random_set(rng, 2000)
    first = bootstrap.bootstrap(*small, draws=1000, seed=4)
    assert first == bootstrap.bootstrap(*small, draws=1000, seed=4)
    assert first != bootstrap.bootstrap(*small, draws=1000, seed=5)
    wide = bootstrap.bootstrap(*large, draws=1000, seed=4)
    for key, _ in bootstrap.SCORES:
        assert wide[key][1] - wide[key][0] < first[key][1] - first[key][0]


@pytest.fixture(scope="module")
def model_dir(tiny_model, tmp_path_factory) -> Path:
    """A copy of the tiny model (tests here delete and rebuild its reports)."""
    copy = tmp_path_factory.mktemp("report") / "model"
    shutil.copytree(tiny_model, copy)
    return copy


@pytest.mark.slow
def test_training_writes_the_report_and_per_fold_scores_add_up_to_the_pooled_ones(model_dir: Path) -> None:
    numbers = json.loads((model_dir / "cv_scores.json").read_text())
    assert numbers["draws"] >= 1000
    names, fold_of, labels, _ = html_report.read_oof(model_dir / "oof.csv")
    label_of = dict(zip(names, labels))
    thresholds = np.array([json.loads((model_dir / "thresholds.json").read_text())[c] for c in CLASSES])
    assert [f["fold"] for f in numbers["folds"]] == sorted(set(fold_of.tolist()))
    assert sum(f["records"] for f in numbers["folds"]) == numbers["pooled"]["records"] == len(names)
    for fold in numbers["folds"]:
        # Each fold's scores, recomputed from its own checkpoint: its validation records and probabilities.
        result = json.loads((model_dir / f"fold_{fold['fold']}.json").read_text())
        fold_labels = np.array([label_of[name] for name in result["records"]])
        probabilities = np.array(result["probabilities"])
        recomputed = bootstrap.scores(fold_labels, probabilities, apply_thresholds(probabilities, thresholds))
        assert fold["scores"] == pytest.approx(recomputed, abs=1e-12)
    # The folds' contingency tables sum to the pooled table, from which the pooled F2 / G2 follow.
    summed = {k: np.sum([f["counts"][k] for f in numbers["folds"]], axis=0) for k in ("tp", "fp", "fn", "tn")}
    for key, value in summed.items():
        assert value == pytest.approx(numbers["pooled"]["counts"][key], abs=1e-9)
    tp, fp, fn = summed["tp"], summed["fp"], summed["fn"]
    assert np.mean(bootstrap.ratio(5 * tp, 5 * tp + 4 * fn + fp)) == pytest.approx(numbers["pooled"]["scores"]["f2"])
    assert np.mean(bootstrap.ratio(tp, tp + fp + 2 * fn)) == pytest.approx(numbers["pooled"]["scores"]["g2"])
    cv = json.loads((model_dir / "cv_report.json").read_text())
    assert numbers["pooled"]["scores"]["f2"] == cv["f2"] and numbers["pooled"]["scores"]["auroc"] == cv["auroc"]


@pytest.mark.slow
def test_every_interval_contains_its_point_estimate(model_dir: Path) -> None:
    numbers = json.loads((model_dir / "cv_scores.json").read_text())
    for part in [*numbers["folds"], numbers["pooled"]]:
        for key, _ in bootstrap.SCORES:
            low, high = part["ci95"][key]
            assert low <= part["scores"][key] <= high, (part.get("fold"), key)


@pytest.mark.slow
def test_every_figure_is_a_valid_non_blank_image(model_dir: Path) -> None:
    page = (model_dir / "cv_report.html").read_text()
    images = inlined_images(page)
    # 9 classes (ROC, PR and threshold sweep each), the miss heat map, the training curves.
    assert len(images) == len(CLASSES) + 2
    for image in images:
        assert_drawn(image)
    assert "fold 2" in page and "lowest validation cross-entropy" in page and "<script" not in page


@pytest.mark.slow
def test_no_report_skips_the_figures_and_the_module_rebuilds_them(model_dir: Path, synth_train_dir: Path) -> None:
    (model_dir / "cv_report.html").unlink()
    # Same arguments as the tiny model: every fold is loaded from its checkpoint, only the reports are rewritten.
    result = run("train_model.py", synth_train_dir, model_dir, "--folds", "2", "--epochs", "1", "--threads", "1",
                 "--quiet", "--no-report")
    assert result.returncode == 0, result.stderr
    assert (model_dir / "cv_report.md").is_file() and not (model_dir / "cv_report.html").exists()
    result = run("-m", "team_code.reporting.html_report", model_dir)
    assert result.returncode == 0, result.stderr
    assert len(inlined_images((model_dir / "cv_report.html").read_text())) == len(CLASSES) + 2


@pytest.mark.slow
def test_report_of_a_broken_model_dir_is_one_line_naming_the_file(tmp_path: Path, model_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken, ignore=shutil.ignore_patterns("cache"))
    (broken / "oof.csv").write_text("record,fold\nA,0\n")
    before = (broken / "cv_report.html").read_bytes()
    result = run("-m", "team_code.reporting.html_report", broken)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "oof.csv" in result.stderr
    assert (broken / "cv_report.html").read_bytes() == before  # the earlier report is kept whole


def write_header(directory: Path, name: str, labels: list[str]) -> None:
    lines = [f"{name} 12 500 5000"] + [f"{name}.mat 16+24 1000/mV 16 0 0 0 0 {lead}" for lead in STANDARD_LEADS]
    header = lines + ["#Age: 60", "#Sex: Male", f"#Dx: {','.join(labels)}"]
    (directory / f"{name}.hea").write_text("\n".join(header) + "\n")


@pytest.mark.slow
def test_evaluate_report_keeps_the_official_lines_and_draws_the_test_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    labels_dir, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels_dir.mkdir()
    truth, probabilities, binary = random_set(rng, 60)
    for i in range(60):
        name = f"T{i:03d}"
        write_header(labels_dir, name, [c for c, on in zip(CLASSES, truth[i]) if on])
        write_output(outputs, name, list(CLASSES), binary[i].astype(int), probabilities[i])
    plain = run("evaluate.py", labels_dir, outputs)
    with_report = run("evaluate.py", labels_dir, outputs, "--report", tmp_path / "test.html")
    assert with_report.returncode == 0, with_report.stderr
    assert with_report.stdout == plain.stdout and len(plain.stdout.splitlines()) == 2
    page = (tmp_path / "test.html").read_text()
    scores = score_folders.evaluate(labels_dir, outputs)
    present = len(scores["classes"])
    images = inlined_images(page)
    assert len(images) == present + 1  # per class, the miss heat map; no training curves for a test set
    for image in images:
        assert_drawn(image)
    assert f"{scores['f_beta']:.3f}" in page and f"{scores['g_beta']:.3f}" in page
