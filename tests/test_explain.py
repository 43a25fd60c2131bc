"""python -m team_code.reporting.explain: the drawing, its errors, and whether the attributions point at the right
beats."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from simulators.synth import generate_record
from team_code.data.preprocess import FS, LENGTH, prepare_signal, window
from team_code.inference.ensemble import Ensemble
from team_code.io.records import load_record, write_record
from team_code.reporting import explain

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test here needs a trained model
WINDOW_S = 0.3


def run(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "team_code.reporting.explain", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})


def assert_drawn(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 500 and image.shape[1] > 1000
    rgb = image[..., :3].reshape(-1, 3)
    assert np.mean(np.abs(rgb - np.median(rgb, axis=0)).sum(axis=1) > 0.1) > 0.02


def test_explains_a_record_into_name_explained_png_in_the_working_directory(tiny_model, synth_train_dir, tmp_path):
    result = run(tiny_model.resolve(), (synth_train_dir / "S00001.hea").resolve(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path.resolve() / 'S00001_explained.png'}\n"  # what it wrote, and only that
    assert_drawn(tmp_path / "S00001_explained.png")
    result = run(tiny_model.resolve(), (synth_train_dir / "S00002.mat").resolve(), "--class", "PVC", "--class", "AF",
                 "--out", "two.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path.resolve() / 'two.png'}\n"
    assert_drawn(tmp_path / "two.png")


def test_unreadable_record_or_model_is_one_line_and_exit_1(tiny_model, synth_train_dir, tmp_path):
    (tmp_path / "BAD.hea").write_text("BAD 12 500 5000\n")
    (tmp_path / "BAD.mat").write_bytes(b"garbage")
    for args in ((tiny_model, tmp_path / "BAD.hea"), (tiny_model, tmp_path / "MISSING.hea"),
                 (tmp_path, synth_train_dir / "S00001.hea")):
        result = run(*(a.resolve() for a in args), cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert not list(tmp_path.glob("*.png"))


def test_attributed_function_is_the_drivers_probability(tiny_model, synth_train_dir):
    ensemble = Ensemble.load(tiny_model, device=torch.device("cpu"))
    record = load_record(synth_train_dir / "S00003")
    prepared = prepare_signal(record.signal, record.fs)
    assert prepared.shape[1] <= LENGTH  # one window: what the attribution differentiates is what the driver scores
    z, held = explain._attributed_input(ensemble.models, torch.from_numpy(window(prepared)[None]))
    differentiable = explain._MeanProbability(ensemble.models, ensemble.loss, held)(z)
    np.testing.assert_allclose(differentiable.detach().numpy(), ensemble.predict([prepared]).combined,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", ["PVC", "PAC"])
def test_attributions_add_up_to_the_probability_they_explain(tiny_model, cls):
    """Completeness: the attributions sum to p(class | record) - p(class | baseline) (within 5 %). Attributing the
    raw window from a flat line broke it: the network standardises its input, so the path was flat but near 0."""
    torch.set_num_threads(1)
    ensemble = Ensemble.load(tiny_model, device=torch.device("cpu"))
    signal, meta = generate_record(np.random.default_rng(77), [cls], 10.0)
    prepared = window(prepare_signal(signal, meta["fs"]))
    checked = 0
    for target in ensemble.classes:
        attributions, record, baseline = explain.integrated_gradients(ensemble, prepared, target)
        assert attributions.shape == prepared.shape and np.isfinite(attributions).all()
        if abs(record - baseline) >= 0.01:  # below that, 5 % is float32 rounding
            assert attributions.sum() == pytest.approx(record - baseline, rel=0.05), target
            checked += 1
    assert checked >= 3, "too few classes that the record moves to test on"


def three_class_set(directory: Path, n: int, seed: int) -> None:
    """Normal, PAC and PVC records of 8 s in turn: a set on which a small model learns PVC in a few epochs."""
    for i in range(n):
        labels = [("Normal", "PAC", "PVC")[i % 3]]
        signal, meta = generate_record(np.random.default_rng([seed, i]), labels, 8.0)
        write_record(directory, f"E{i:04d}", signal, fs=meta["fs"], age=meta["age"], sex=meta["sex"], labels=labels)


@pytest.fixture(scope="module")
def beat_model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("beats")
    three_class_set(root / "train", 240, seed=5)
    subprocess.run([sys.executable, "train_model.py", str(root / "train"), str(root / "model"), "--folds", "2",
                    "--epochs", "4", "--threads", "1", "--quiet", "--no-report"],
                   cwd=ROOT, check=True, capture_output=True, timeout=1800)
    return root / "model"


def peak_hits(ensemble: Ensemble, directory: Path, cls: str, key: str, n: int, seed: int) -> tuple[float, float]:
    """Fraction of n new records of `cls` whose attribution for `cls` peaks within WINDOW_S of a planted beat,
    and the fraction expected by chance (the share of the record within WINDOW_S of one)."""
    hits, chance = [], []
    for i in range(n):
        signal, meta = generate_record(np.random.default_rng([seed, i]), [cls], 8.0)
        write_record(directory, f"{cls}{i}", signal, fs=meta["fs"], age=meta["age"], sex=meta["sex"], labels=[cls])
        explained = explain.explain(ensemble, directory / f"{cls}{i}.hea", [cls], steps=16)
        samples = int(explained.seconds * FS)
        peak = np.argmax(explained.attributions[cls][:samples]) / FS
        times = np.asarray(meta[key])
        hits.append(bool(len(times)) and np.min(np.abs(times - peak)) <= WINDOW_S)
        t = np.arange(samples) / FS
        chance.append(np.mean(np.min(np.abs(t[:, None] - times[None, :]), axis=1) <= WINDOW_S) if len(times) else 0.0)
    return float(np.mean(hits)), float(np.mean(chance))


def test_attribution_peaks_at_the_planted_premature_beats(beat_model, tmp_path):
    torch.set_num_threads(1)
    ensemble = Ensemble.load(beat_model, device=torch.device("cpu"))
    pvc, pvc_chance = peak_hits(ensemble, tmp_path, "PVC", "pvc_times_s", 12, seed=91)
    pac, pac_chance = peak_hits(ensemble, tmp_path, "PAC", "pac_times_s", 12, seed=92)
    print(f"attribution peak within {WINDOW_S} s of a planted beat: PVC {pvc:.2f} (chance {pvc_chance:.2f}), "
          f"PAC {pac:.2f} (chance {pac_chance:.2f})")
    assert pvc >= 0.75 and pvc >= pvc_chance + 0.4
    assert (pvc + pac) / 2 >= 2 * (pvc_chance + pac_chance) / 2
