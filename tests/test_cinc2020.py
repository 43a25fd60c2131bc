"""End to end on the 27 scored classes of CinC 2020: generated records labelled with SNOMED CT codes in nested
folders, train_model.py --classes cinc2020, driver.py writing the 27 codes, evaluate.py printing the final-phase
lines; and the losses."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from simulators.synth import generate_dataset
from team_code import class_sets, labels
from team_code.io.output_csv import read_output
from team_code.io.records import read_dx
from team_code.scoring import challenge2020
from team_code.training.thresholds import apply_thresholds
from team_code.training.train import binary_cross_entropy, categorical_cross_entropy, validation_loss

ROOT = Path(__file__).resolve().parents[1]
CINC = class_sets.get("cinc2020")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """Generated records as the release is laid out: a folder per source, SNOMED CT codes in the #Dx lines; one
    RBBB record carries the pair's first code (713427006), the others CPSC 2018's second one (59118001)."""
    root = tmp_path_factory.mktemp("release") / "training"
    generate_dataset(root / "cpsc_2018" / "g1", n=22, seed=3, min_seconds=8, max_seconds=10, prefix="A", snomed=True)
    generate_dataset(root / "georgia" / "g1", n=14, seed=4, min_seconds=8, max_seconds=10, prefix="E", snomed=True)
    rbbb = [h for h in sorted(root.rglob("*.hea")) if "59118001" in read_dx(h)]
    assert len(rbbb) >= 2
    rbbb[0].write_text(rbbb[0].read_text().replace("59118001", "713427006"))
    return root


@pytest.fixture(scope="module")
def trained(release, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    model = tmp_path_factory.mktemp("cinc") / "model"
    result = _run("train_model.py", str(release), str(model), "--classes", "cinc2020", "--folds", "2", "--epochs",
                  "1", "--threads", "1", "--quiet", "--no-report")
    assert result.returncode == 0, result.stderr
    return model, result


@pytest.mark.slow
def test_training_skips_unscored_records_and_records_the_class_set(release, trained):
    model, result = trained
    headers = sorted(release.rglob("*.hea"))
    unscored = [h for h in headers if not CINC.labels_of(read_dx(h))]  # STD and STE alone are not scored
    assert unscored, "the generated set should hold STD- or STE-only records"
    for header in unscored:
        assert f"skipped {header.with_suffix('')}: no label among {CINC.description}" in result.stderr
    assert (f"skipped {len(unscored)} of {len(headers)} records (0 unreadable, {len(unscored)} without a label "
            f"among {CINC.description}); training on {len(headers) - len(unscored)}") in result.stderr
    config = json.loads((model / "config.json").read_text())
    assert (config["class_set"], config["loss"], config["training"]["loss"]) == ("cinc2020", "bce", "bce")
    assert config["classes"] == list(CINC.classes) and config["records"] == len(headers) - len(unscored)
    assert list(json.loads((model / "thresholds.json").read_text())) == list(CINC.classes)
    oof_header = (model / "oof.csv").read_text().splitlines()[0].split(",")
    assert oof_header[2:] == [f"label_{c}" for c in CINC.classes] + [f"prob_{c}" for c in CINC.classes]
    # The CV report adds the Challenge metric of the out-of-fold outputs with the tuned thresholds.
    report = json.loads((model / "cv_report.json").read_text())
    thresholds = np.array([json.loads((model / "thresholds.json").read_text())[c] for c in CINC.classes])
    truth, probabilities = [], []
    for fold in range(2):
        summary = json.loads((model / f"fold_{fold}.json").read_text())
        probabilities += summary["probabilities"]
        truth += [CINC.vector(CINC.labels_of(read_dx(next(release.rglob(f"{n}.hea"))))) for n in summary["records"]]
    binary = apply_thresholds(np.array(probabilities), thresholds)
    expected = challenge2020.challenge_metric(np.array(truth, dtype=bool), binary)
    assert report["challenge_metric"] == pytest.approx(expected, abs=1e-12)
    assert f"Challenge metric {expected:.3f}" in result.stdout


@pytest.mark.slow
def test_a_cpsc2018_model_records_its_class_set_and_has_no_challenge_metric(tiny_model):
    config = json.loads((tiny_model / "config.json").read_text())
    assert (config["class_set"], config["loss"], config["classes"]) == ("cpsc2018", "softmax", list(labels.CLASSES))
    assert "challenge_metric" not in json.loads((tiny_model / "cv_report.json").read_text())


@pytest.mark.slow
def test_driver_writes_the_27_codes_and_evaluate_scores_them_with_the_challenge_metric(release, trained, tmp_path):
    model, _ = trained
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    for path in sorted((release / "georgia" / "g1").iterdir()):
        shutil.copy(path, test_dir / path.name)
    out = tmp_path / "out"
    result = _run("driver.py", str(model), str(test_dir), str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    names = sorted(p.stem for p in test_dir.glob("*.mat"))
    assert sorted(p.stem for p in out.glob("*.csv")) == names
    for name in names:
        record, columns, binary, probabilities = read_output(out / f"{name}.csv")
        assert record == name and tuple(columns) == labels.CINC2020_SCORED
        for first, second in labels.CINC2020_EQUIVALENT:  # a pair's two codes say the same
            i, j = columns.index(first), columns.index(second)
            assert binary[i] == binary[j] and probabilities[i] == probabilities[j]
        assert binary.any()
    # The sigmoids of a bce model are independent: a record's probabilities do not sum to one.
    sums = [read_output(out / f"{n}.csv")[3][CINC.column_class.argsort()].sum() for n in names]
    assert not np.allclose(sums, 1.0)

    scored = _run("evaluate.py", str(test_dir), str(out))
    assert scored.returncode == 0, scored.stderr
    lines = scored.stdout.splitlines()
    assert lines[0] == "AUROC,AUPRC,Accuracy,F-measure,Fbeta-measure,Gbeta-measure,Challenge metric"
    values = [float(v) for v in lines[1].split(",")]
    assert len(values) == 7 and all(len(v.split(".")[1]) == 3 for v in lines[1].split(","))
    assert all(np.isfinite(values))


@pytest.mark.slow
def test_the_organisers_adapter_answers_with_the_27_codes(release, trained, tmp_path):
    model, _ = trained
    sys.path.insert(0, str(ROOT))
    try:
        from run_12ECG_classifier import load_12ECG_model, run_12ECG_classifier
    finally:
        sys.path.remove(str(ROOT))
    import scipy.io

    header = sorted((release / "georgia" / "g1").glob("*.hea"))[0]
    data = scipy.io.loadmat(header.with_suffix(".mat"))["val"]
    binary, probabilities, classes = run_12ECG_classifier(data, header.read_text().splitlines(True),
                                                          load_12ECG_model(str(model)))
    assert classes == list(labels.CINC2020_SCORED) and len(binary) == len(probabilities) == 27


def test_losses_per_record():
    logits = torch.tensor([[2.0, -1.0, 0.0], [0.5, 0.5, -3.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    p = torch.sigmoid(logits)
    by_hand = -(targets * p.log() + (1 - targets) * (1 - p).log()).mean(dim=1)
    torch.testing.assert_close(binary_cross_entropy(logits, targets), by_hand)
    soft = targets / targets.sum(dim=1, keepdim=True)
    torch.testing.assert_close(categorical_cross_entropy(logits, targets),
                               -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1))
    assert validation_loss(targets.numpy(), p.numpy(), "bce") == pytest.approx(by_hand.mean().item(), rel=1e-6)
    q = torch.softmax(logits, dim=1).numpy()
    assert validation_loss(targets.numpy(), q, "softmax") == pytest.approx(
        float(-(soft.numpy() * np.log(q)).sum(axis=1).mean()), rel=1e-6)


@pytest.mark.slow
def test_train_model_takes_the_loss_and_refuses_unknown_class_sets(tmp_path):
    from train_model import parse_args

    args = parse_args(["t", "m", "--classes", "cinc2020", "--loss", "softmax"])
    assert (args.classes, args.loss) == ("cinc2020", "softmax")
    assert parse_args(["t", "m"]).classes == "cpsc2018" and parse_args(["t", "m"]).loss is None
    result = _run("train_model.py", str(tmp_path), str(tmp_path / "m"), "--classes", "cinc2019")
    assert result.returncode == 2 and "invalid choice: 'cinc2019'" in result.stderr


@pytest.mark.slow
def test_the_cv_report_page_of_a_cinc2020_model(trained):
    from team_code.reporting import html_report

    model, _ = trained
    page = html_report.write_cv_report(model, draws=20)
    text = page.read_text()
    assert all(code in text for code in CINC.classes)


@pytest.mark.slow
def test_explain_follows_the_models_classes_and_sigmoids(release, trained):
    from team_code.data.preprocess import prepare_signal, window
    from team_code.inference.ensemble import Ensemble
    from team_code.io.records import load_record
    from team_code.reporting import explain

    model, _ = trained
    ensemble = Ensemble.load(model, device=torch.device("cpu"))
    assert explain._model_class(ensemble, "59118001") == "713427006"  # a pair's second code names the class
    record_path = sorted((release / "georgia" / "g1").glob("*.hea"))[0]
    record = load_record(record_path)
    prepared = prepare_signal(record.signal, record.fs)
    z, held = explain._attributed_input(ensemble.models, torch.from_numpy(window(prepared)[None]))
    differentiable = explain._MeanProbability(ensemble.models, ensemble.loss, held)(z)
    np.testing.assert_allclose(differentiable.detach().numpy(), ensemble.predict([prepared]).combined,
                               rtol=1e-5, atol=1e-6)
    result = explain.explain(ensemble, record_path, ["713427006"], steps=4)
    assert list(result.attributions) == ["713427006"] and len(result.probabilities) == 24
