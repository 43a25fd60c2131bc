"""train_model.py -> MODEL_DIR -> driver.py -> evaluate.py, as a user runs them, on generated records."""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from simulators.synth import generate_dataset
from team_code.io.output_csv import read_output

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test here trains or needs a trained model
TRAIN_ARGS = ["--folds", "3", "--epochs", "2", "--seed", "5", "--threads", "1", "--quiet"]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate_dataset(root / "train", n=45, seed=1, min_seconds=8, max_seconds=12)
    generate_dataset(root / "test", n=12, seed=2, min_seconds=6, max_seconds=30)
    return root


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    model = tmp_path_factory.mktemp("model") / "model"
    before = {p.name: p.stat().st_mtime_ns for p in (data / "train").iterdir()}
    result = run("train_model.py", str(data / "train"), str(model), *TRAIN_ARGS)
    after = {p.name: p.stat().st_mtime_ns for p in (data / "train").iterdir()}
    assert before == after, "training wrote into TRAIN_DIR"
    assert "cross-validation on 45 records" in result.stdout
    return model


def test_model_dir_holds_every_artefact(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"config.json", "thresholds.json", "oof.csv", "cv_report.md", "cv_report.json"} <= names
    assert {f"fold_{k}.pt" for k in range(3)} <= names
    config = json.loads((trained / "config.json").read_text())
    assert config["arch"] == "crnn" and config["sampling_rate"] == 500 and config["length"] == 10000
    assert config["training"]["folds"] == 3 and config["training"]["epochs"] == 2
    assert config["training"]["precision"] in ("fp32", "bf16")  # what "auto" resolved to on this machine
    assert "torch" in config["versions"]
    thresholds = json.loads((trained / "thresholds.json").read_text())
    assert list(thresholds) == ["AF", "I-AVB", "LBBB", "Normal", "PAC", "PVC", "RBBB", "STD", "STE"]
    state = torch.load(trained / "fold_0.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    oof = (trained / "oof.csv").read_text().splitlines()
    assert len(oof) == 46 and oof[0].startswith("record,fold,label_AF")
    report = json.loads((trained / "cv_report.json").read_text())
    assert len(report["folds"]) == 3
    assert all(1 <= f["best_epoch"] <= 2 and len(f["history"]) == 2 for f in report["folds"])
    assert "| Class | n | Precision | Recall |" in (trained / "cv_report.md").read_text()


def test_driver_then_evaluate(trained, data, tmp_path):
    out = tmp_path / "out"
    run("driver.py", str(trained), str(data / "test"), str(out), "--quiet")
    files = sorted(out.glob("*.csv"))
    assert [f.stem for f in files] == sorted(p.stem for p in (data / "test").glob("*.mat"))
    text = files[0].read_text()
    lines = text.split("\n")
    assert len(lines) == 5 and lines[4] == "" and lines[0] == f"#{files[0].stem}"
    assert lines[1] == "AF,I-AVB,LBBB,Normal,PAC,PVC,RBBB,STD,STE"
    name, classes, binary, probabilities = read_output(files[0])
    assert binary.any() and abs(probabilities.sum() - 1) < 0.02
    scores = tmp_path / "scores.txt"
    result = run("evaluate.py", str(data / "test"), str(out), str(scores))
    head, values = result.stdout.splitlines()[:2]
    assert head == "AUROC|AUPRC|Accuracy|F-measure|Fbeta-measure|Gbeta-measure"
    assert len(values.split("|")) == 6 and all(0 <= float(v) <= 1 for v in values.split("|"))
    assert scores.read_text().splitlines()[:2] == [head, values]


def _fingerprint_of_fold_0(model: Path) -> str | None:
    try:
        return json.loads((model / "fold_0.json").read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):  # not there yet (or, on some filesystems, mid-replace)
        return None


def _train_and_kill_after_first_fold(data: Path, model: Path) -> list[str]:
    """Start the training of `trained` into `model`, SIGKILL it once it has checkpointed its first fold (a new
    fold_0.json), and return the command."""
    command = ["train_model.py", str(data / "train"), str(model), *TRAIN_ARGS]
    old = _fingerprint_of_fold_0(model)
    process = subprocess.Popen([sys.executable, *command], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while _fingerprint_of_fold_0(model) in (None, old) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _fingerprint_of_fold_0(model) not in (None, old)
    assert not (model / "config.json").exists(), "training finished before it could be interrupted"
    return command


def _assert_same_model(model: Path, trained: Path) -> None:
    assert json.loads((model / "thresholds.json").read_text()) == json.loads((trained / "thresholds.json").read_text())
    for k in range(3):
        a = torch.load(model / f"fold_{k}.pt", weights_only=True)
        b = torch.load(trained / f"fold_{k}.pt", weights_only=True)
        assert all(torch.equal(a[key], b[key]) for key in a), f"fold {k} weights differ"
    assert (model / "oof.csv").read_text() == (trained / "oof.csv").read_text()
    assert not any(p.name.endswith(".tmp") for p in model.iterdir())


def test_interrupted_training_resumes_to_the_same_model(trained, data, tmp_path):
    """Kill training once the first fold is checkpointed; the rerun must equal the uninterrupted run."""
    model = tmp_path / "model"
    command = _train_and_kill_after_first_fold(data, model)
    first_fold_mtime = (model / "fold_0.pt").stat().st_mtime_ns
    run(*command)
    assert (model / "fold_0.pt").stat().st_mtime_ns == first_fold_mtime, "the finished fold was retrained"
    _assert_same_model(model, trained)


def test_interrupted_retrain_into_a_used_model_dir_is_refused_then_resumes(trained, tiny_model, data, tmp_path):
    """A finished model of another run, retrained over and killed after one fold: the driver must refuse the
    mix of one new fold and old ones (and the old thresholds); the rerun must equal an uninterrupted run."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("cache"))
    command = _train_and_kill_after_first_fold(data, model)
    assert (model / "fold_1.pt").exists() and (model / "thresholds.json").exists()  # the old run's, still there
    result = run("driver.py", str(model), str(data / "test"), str(tmp_path / "out"), "--quiet", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {model / 'config.json'}: missing (incomplete model directory; did " \
                                    "training finish?)"
    assert not (tmp_path / "out").exists()
    first_fold_mtime = (model / "fold_0.pt").stat().st_mtime_ns
    run(*command)
    assert (model / "fold_0.pt").stat().st_mtime_ns == first_fold_mtime, "the new run's finished fold was retrained"
    _assert_same_model(model, trained)
    run("driver.py", str(model), str(data / "test"), str(tmp_path / "out"), "--quiet")
