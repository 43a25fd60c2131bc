"""The organisers' 2020 harness modules: train_12ECG_classifier.py and run_12ECG_classifier.py at the top level.

Their outputs, written the way the official driver writes them (tests/official_harness.py), must equal driver.py's.
"""
import functools
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from official_harness import run as official_driver
from official_harness import train as official_train

import run_12ECG_classifier as harness
import train_12ECG_classifier as training
from simulators.synth import generate_dataset
from team_code.inference.ensemble import Ensemble
from team_code.io.output_csv import read_output
from team_code.io.records import STANDARD_LEADS, RecordError
from team_code.labels import CINC2020_SCORED
from team_code.scoring import score_folders
from team_code.training.train import TrainingError, TrainOptions

ROOT = Path(__file__).resolve().parents[1]


def drive(model: Path, test_dir: Path, out: Path, batch_size: int = 1) -> None:
    result = subprocess.run([sys.executable, "driver.py", str(model), str(test_dir), str(out), "--quiet",
                             "--batch-size", str(batch_size)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr


def assert_same_outputs(harness_dir: Path, driver_dir: Path, records: Path) -> None:
    """Same files; per file the same name, classes and labels, and each harness probability rounds to the
    driver's written token at the token's own precision (exact when the driver writes full precision)."""
    names = sorted(p.stem for p in records.glob("*.mat"))
    assert sorted(p.stem for p in harness_dir.glob("*.csv")) == names
    assert sorted(p.stem for p in driver_dir.glob("*.csv")) == names
    for name in names:
        text = (harness_dir / f"{name}.csv").read_text()
        lines = text.split("\n")
        assert len(lines) == 5 and lines[4] == "", text  # four lines, each ending in '\n'
        assert set(lines[2].split(",")) <= {"0", "1"}, text  # plain numbers, not np.True_ or tensor(...)
        assert all(repr(float(token)) == token for token in lines[3].split(",")), text
        ours = read_output(harness_dir / f"{name}.csv")
        theirs = read_output(driver_dir / f"{name}.csv")
        assert ours[:2] == theirs[:2]
        assert ours[2].tolist() == theirs[2].tolist(), name
        written = (driver_dir / f"{name}.csv").read_text().split("\n")[3].split(",")
        for probability, token in zip(ours[3], written):
            assert Decimal(float(probability)).quantize(Decimal(token)) == Decimal(token), (name, probability, token)


@pytest.mark.slow
def test_official_call_sequence_matches_driver_on_generated_records(tiny_model, tmp_path):
    records = tmp_path / "records"
    generate_dataset(records, n=8, seed=11, min_seconds=6, max_seconds=30)
    official_driver(str(tiny_model), str(records), str(tmp_path / "harness"))
    drive(tiny_model, records, tmp_path / "driver")
    assert_same_outputs(tmp_path / "harness", tmp_path / "driver", records)
    # driver.py's default batches of 16 sum in another order: the same labels, probabilities equal to the precision
    # written give or take float32 rounding.
    drive(tiny_model, records, tmp_path / "batched", batch_size=16)
    for path in (tmp_path / "harness").glob("*.csv"):
        ours, batched = read_output(path), read_output(tmp_path / "batched" / path.name)
        assert ours[2].tolist() == batched[2].tolist()
        written = (tmp_path / "batched" / path.name).read_text().split("\n")[3].split(",")
        for probability, token in zip(ours[3], written):
            half_unit = float(Decimal(1).scaleb(Decimal(token).as_tuple().exponent)) / 2
            assert abs(probability - float(token)) <= half_unit + 1e-6, (path.name, probability, token)


@pytest.mark.slow
def test_official_call_sequence_matches_driver_on_real_samples(tiny_model, real_samples, tmp_path):
    records = real_samples / "cinc2021"
    official_driver(str(tiny_model), str(records), str(tmp_path / "harness"))
    drive(tiny_model, records, tmp_path / "driver")
    assert_same_outputs(tmp_path / "harness", tmp_path / "driver", records)


@pytest.mark.slow
def test_crlf_spaced_dx_and_reordered_leads_work_as_through_driver(tiny_model, tmp_path):
    plain, odd = tmp_path / "plain", tmp_path / "odd"
    generate_dataset(plain, n=2, seed=21, min_seconds=8, max_seconds=12)
    odd.mkdir()
    order = np.random.default_rng(0).permutation(len(STANDARD_LEADS))
    for mat in plain.glob("*.mat"):
        lines = mat.with_suffix(".hea").read_text().splitlines()
        assert lines[13].startswith("#Age") and any(line.startswith("#Dx:") for line in lines)
        comments = [line.replace("#Dx:", "# Dx:") for line in lines[13:]]
        header = "\r\n".join([lines[0], *(lines[1 + i] for i in order), *comments]) + "\r\n"
        (odd / f"{mat.stem}.hea").write_bytes(header.encode())
        scipy.io.savemat(odd / mat.name, {"val": scipy.io.loadmat(mat)["val"][order]}, format="4")
    official_driver(str(tiny_model), str(odd), str(tmp_path / "harness"))
    drive(tiny_model, odd, tmp_path / "driver")
    assert_same_outputs(tmp_path / "harness", tmp_path / "driver", odd)
    # ... and the odd file means what the plain one does.
    official_driver(str(tiny_model), str(plain), str(tmp_path / "harness_plain"))
    for path in (tmp_path / "harness").glob("*.csv"):
        assert path.read_text() == (tmp_path / "harness_plain" / path.name).read_text()


def _plain_record(directory: Path) -> tuple[np.ndarray, list[str]]:
    generate_dataset(directory, n=1, seed=31, min_seconds=6, max_seconds=6)
    data = np.asarray(scipy.io.loadmat(directory / "S00001.mat")["val"], dtype=np.float64)
    return data, (directory / "S00001.hea").read_text().splitlines(keepends=True)


@pytest.mark.parametrize("damage, reason", [
    (lambda data, header: (data[:11], header), "'val' has shape"),
    (lambda data, header: (np.where(np.arange(data.shape[1]) == 5, np.nan, data), header), "NaN or Inf"),
    (lambda data, header: (data, header[:5] + header[6:]), "header declares 12 leads but has 11"),
    (lambda data, header: (data, [line.replace(" V3", " V7") for line in header]), "unknown lead name 'V7'"),
])
@pytest.mark.slow
def test_unreadable_record_raises_naming_it(tiny_model, tmp_path, damage, reason):
    model = harness.load_12ECG_model(str(tiny_model))
    data, header = damage(*_plain_record(tmp_path))
    with pytest.raises(RecordError, match=f"^record S00001: .*{reason}"):
        harness.run_12ECG_classifier(data, header, model)


@pytest.mark.slow
def test_returned_values_are_plain_python(tiny_model, tmp_path):
    labels, scores, classes = harness.run_12ECG_classifier(*_plain_record(tmp_path),
                                                          harness.load_12ECG_model(str(tiny_model)))
    assert [type(v) for v in labels] == [int] * 9 and [type(v) for v in scores] == [float] * 9
    assert classes == ["AF", "I-AVB", "LBBB", "Normal", "PAC", "PVC", "RBBB", "STD", "STE"]
    assert sum(labels) >= 1 and all(0.0 <= s <= 1.0 for s in scores)


def test_train_12ECG_classifier_uses_the_training_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("ECG_CLASSES", raising=False)
    calls = []
    monkeypatch.setattr(training, "train", lambda *args: calls.append(args))
    training.train_12ECG_classifier(str(tmp_path / "in"), str(tmp_path / "out"))
    assert calls == [(str(tmp_path / "in"), str(tmp_path / "out"), TrainOptions())]
    assert (calls[0][2].folds, calls[0][2].epochs) == (10, 10)


@pytest.mark.slow
def test_train_12ECG_classifier_writes_a_loadable_model(synth_train_dir, monkeypatch, tmp_path, capsys):
    # The official signature takes no options: shrink the defaults to 2 folds x 1 epoch for the test.
    monkeypatch.delenv("ECG_CLASSES", raising=False)
    monkeypatch.setattr(training, "TrainOptions",
                        functools.partial(TrainOptions, folds=2, epochs=1, threads=1))
    training.train_12ECG_classifier(str(synth_train_dir), str(tmp_path / "model"))
    assert "cross-validation on 30 records" in capsys.readouterr().out
    ensemble = Ensemble.load(tmp_path / "model")
    assert len(ensemble.models) == 2 and ensemble.config["folds"] == 2
    data = np.asarray(scipy.io.loadmat(synth_train_dir / "S00001.mat")["val"], dtype=np.float64)
    with open(synth_train_dir / "S00001.hea") as header:
        labels, _, classes = harness.run_12ECG_classifier(data, header.readlines(),
                                                          harness.load_12ECG_model(str(tmp_path / "model")))
    assert len(labels) == len(classes) == 9 and sum(labels) >= 1


@pytest.fixture(scope="module")
def snomed_train_dir(tmp_path_factory) -> Path:
    """The records of the shared training set, labelled with SNOMED CT codes as the final-phase release labels them."""
    directory = tmp_path_factory.mktemp("snomed") / "train"
    generate_dataset(directory, n=30, seed=3, min_seconds=8, max_seconds=10, snomed=True)
    return directory


@pytest.mark.parametrize("labels, environment, expected", [
    ("snomed", None, "cinc2020"), ("abbreviations", None, "cpsc2018"),
    ("snomed", "cpsc2018", "cpsc2018"), ("abbreviations", "cinc2020", "cinc2020"),
])
def test_train_12ECG_classifier_chooses_the_class_set_from_the_labels_unless_told(
        synth_train_dir, snomed_train_dir, monkeypatch, tmp_path, capsys, labels, environment, expected):
    if environment is None:
        monkeypatch.delenv("ECG_CLASSES", raising=False)
    else:
        monkeypatch.setenv("ECG_CLASSES", environment)
    calls = []
    monkeypatch.setattr(training, "train", lambda *args: calls.append(args))
    data = snomed_train_dir if labels == "snomed" else synth_train_dir
    training.train_12ECG_classifier(str(data), str(tmp_path / "out"))
    assert calls == [(str(data), str(tmp_path / "out"), TrainOptions(classes=expected))]
    assert capsys.readouterr().out.startswith(f"class set {expected} (")


def test_an_unknown_class_set_in_the_environment_is_one_line(synth_train_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("ECG_CLASSES", "cinc2021")
    with pytest.raises(TrainingError, match=r"^ECG_CLASSES: unknown class set 'cinc2021' \(known: cpsc2018, "
                                            r"cinc2020\)$"):
        training.train_12ECG_classifier(str(synth_train_dir), str(tmp_path / "model"))
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_the_organisers_harness_trains_the_final_phase_classes_on_snomed_labels(snomed_train_dir, monkeypatch,
                                                                                 tmp_path, capsys):
    """Their unmodified train_model.py, driver.py and scorer on final-phase-style data: the model must answer in
    the 27 scored codes, or the Challenge metric sees no scored output column at all."""
    monkeypatch.delenv("ECG_CLASSES", raising=False)
    monkeypatch.setattr(training, "TrainOptions", functools.partial(TrainOptions, folds=2, epochs=1, threads=1))
    official_train(str(snomed_train_dir), str(tmp_path / "model"))
    assert "class set cinc2020 (the training labels are SNOMED CT codes" in capsys.readouterr().out
    test = tmp_path / "test"
    generate_dataset(test, n=6, seed=12, min_seconds=8, max_seconds=12, snomed=True)
    official_driver(str(tmp_path / "model"), str(test), str(tmp_path / "out"))
    for path in sorted((tmp_path / "out").glob("*.csv")):
        assert read_output(path)[1] == list(CINC2020_SCORED), path.read_text()
    assert score_folders.choose_metric(test, tmp_path / "out") == "challenge2020"
