"""driver.py on real and hostile inputs: every readable record labelled, every unreadable one named, nothing
half-written."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import driver
from team_code.data import preprocess
from team_code.io.output_csv import read_output
from team_code.io.records import write_record

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test here needs a trained model (tiny_model)


def drive(model: Path, test_dir: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "driver.py", str(model), str(test_dir), str(out), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def copy_real(real_samples: Path, name: str, target: Path, new_name: str | None = None) -> Path:
    new_name = new_name or name
    text = (real_samples / "cinc2021" / f"{name}.hea").read_bytes().decode()
    (target / f"{new_name}.hea").write_bytes(text.replace(name, new_name).encode())
    shutil.copy(real_samples / "cinc2021" / f"{name}.mat", target / f"{new_name}.mat")
    return target / new_name


def edit_header(base: Path, edit) -> None:
    path = base.with_suffix(".hea")
    path.write_bytes(edit(path.read_bytes().decode()).encode())


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def set_weights(model: Path, fold: int, state: dict) -> None:
    """Replace fold_K.pt and record its checksum in fold_K.json, as a consistent (if strange) fold would be."""
    import torch
    torch.save(state, model / f"fold_{fold}.pt")
    edit_json(model / f"fold_{fold}.json",
              weights_sha256=hashlib.sha256((model / f"fold_{fold}.pt").read_bytes()).hexdigest())


def save_val(base: Path, val: np.ndarray) -> None:
    scipy.io.savemat(base.with_suffix(".mat"), {"val": val}, format="4")


def test_labels_every_real_sample(tiny_model, real_samples, tmp_path):
    result = drive(tiny_model, real_samples / "cinc2021", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    outputs = sorted(p.stem for p in (tmp_path / "out").glob("*.csv"))
    assert outputs == sorted(p.stem for p in (real_samples / "cinc2021").glob("*.mat"))
    assert "labelled 50 record(s); 0 could not be read" in result.stderr


def test_odd_but_readable_records_are_all_labelled(tiny_model, real_samples, tmp_path):
    data = tmp_path / "odd"
    data.mkdir()
    rng = np.random.default_rng(0)
    for name, seconds, fs in [("short1s", 1, 500), ("long70s", 70, 500), ("fs250", 10, 250), ("fs1000", 10, 1000)]:
        write_record(data, name, rng.normal(0, 0.1, (12, int(seconds * fs))), fs=fs, labels=["AF"])
    edit_header(copy_real(real_samples, "E07500", data, "crlf"),
                lambda t: t.replace("\r\n", "\n").replace("\n", "\r\n"))
    edit_header(copy_real(real_samples, "E07501", data, "dxnospace"), lambda t: t.replace("# Dx:", "#Dx:"))
    edit_header(copy_real(real_samples, "E07502", data, "lowermv"), lambda t: t.replace("/mV", "/mv"))
    edit_header(copy_real(real_samples, "E07503", data, "unknowndx"),
                lambda t: "\n".join("# Dx: 999999999,123" if line.startswith("# Dx") else line
                                    for line in t.split("\n")))
    edit_header(copy_real(real_samples, "E07504", data, "noagesex"),
                lambda t: "\n".join(line for line in t.split("\n") if not line.startswith(("# Age", "# Sex"))))
    base = copy_real(real_samples, "E07505", data, "reordered")
    order = rng.permutation(12)
    lines = base.with_suffix(".hea").read_text().split("\n")
    base.with_suffix(".hea").write_text("\n".join([lines[0], *(lines[1 + i] for i in order), *lines[13:]]))
    save_val(base, scipy.io.loadmat(base.with_suffix(".mat"))["val"][order])
    result = drive(tiny_model, data, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    written = {p.stem for p in (tmp_path / "out").glob("*.csv")}
    assert written == {p.stem for p in data.glob("*.mat")}
    # Reordering the leads in the file must not change the answer.
    reference = tmp_path / "ref"
    reference.mkdir()
    copy_real(real_samples, "E07505", reference, "reordered")
    drive(tiny_model, reference, tmp_path / "out_ref")
    # Reordering the leads in the file must not change the answer: the same labels and, up to the last float32
    # digits that depend on which records share a batch, the same probabilities.
    name, classes, binary, probabilities = read_output(tmp_path / "out" / "reordered.csv")
    ref_name, ref_classes, ref_binary, ref_probabilities = read_output(tmp_path / "out_ref" / "reordered.csv")
    assert (name, classes, binary.tolist()) == (ref_name, ref_classes, ref_binary.tolist())
    np.testing.assert_allclose(probabilities, ref_probabilities, rtol=0, atol=1e-6)


def test_unreadable_records_are_named_and_skipped(tiny_model, real_samples, tmp_path):
    data = tmp_path / "bad"
    data.mkdir()
    copy_real(real_samples, "E07500", data, "good")
    (data / "truncated.mat").write_bytes((real_samples / "cinc2021" / "E07501.mat").read_bytes()[:300])
    shutil.copy(real_samples / "cinc2021" / "E07501.hea", data / "truncated.hea")
    edit_header(data / "truncated", lambda t: t.replace("E07501", "truncated"))
    copy_real(real_samples, "E07502", data, "garbage").with_suffix(".mat").write_bytes(os.urandom(5000))
    shutil.copy(real_samples / "cinc2021" / "E07503.mat", data / "noheader.mat")
    save_val(copy_real(real_samples, "E07504", data, "elevenleads"), np.zeros((11, 5000), np.int16))
    save_val(copy_real(real_samples, "E07505", data, "wronglength"), np.zeros((12, 4000), np.int16))
    base = copy_real(real_samples, "E07506", data, "zerosamples")
    edit_header(base, lambda t: t.replace(" 12 500 5000", " 12 500 0", 1))
    save_val(base, np.zeros((12, 0), np.int16))
    nan = np.zeros((12, 5000))
    nan[3, 100] = np.nan
    save_val(copy_real(real_samples, "E07507", data, "nansample"), nan)
    inf = np.zeros((12, 5000))
    inf[0, 0] = np.inf
    save_val(copy_real(real_samples, "E07508", data, "infsample"), inf)
    edit_header(copy_real(real_samples, "E07509", data, "unknownlead"), lambda t: t.replace(" V6\n", " V7\n"))
    result = drive(tiny_model, data, tmp_path / "out")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    bad = ["truncated", "garbage", "noheader", "elevenleads", "wronglength", "zerosamples", "nansample",
           "infsample", "unknownlead"]
    for name in bad:
        lines = [line for line in result.stderr.splitlines() if line.startswith(f"error: record {name}:")]
        assert len(lines) == 1, (name, result.stderr)
        assert not (tmp_path / "out" / f"{name}.csv").exists()
    assert [p.stem for p in (tmp_path / "out").glob("*.csv")] == ["good"]
    assert f"labelled 1 record(s); {len(bad)} could not be read" in result.stderr


def test_hidden_record_name_is_rejected_not_written(tiny_model, real_samples, tmp_path):
    data = tmp_path / "names"
    data.mkdir()
    copy_real(real_samples, "E07500", data, "plain")
    copy_real(real_samples, "E07501", data, ".hidden")
    result = drive(tiny_model, data, tmp_path / "out")
    assert result.returncode == 1
    assert "error: record .hidden:" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["plain.csv"]


@pytest.mark.parametrize("damage,message", [
    (lambda m: shutil.rmtree(m), "model directory not found"),
    (lambda m: (m / "fold_1.pt").unlink(), "fold_1.pt: fold weights missing"),
    (lambda m: (m / "thresholds.json").unlink(), "thresholds.json: missing"),
    (lambda m: (m / "config.json").write_text("{not json"), "config.json: not valid JSON"),
    (lambda m: (m / "config.json").write_text(json.dumps({**json.loads((m / "config.json").read_text()),
                                                          "format_version": 99})), "format version 99"),
    (lambda m: (m / "fold_0.pt").write_bytes(b"not a torch file"), "fold_0.pt: not the weights fold_0.json was"),
    (lambda m: (m / "fold_1.json").unlink(), "fold_1.json: missing"),
    (lambda m: edit_json(m / "config.json", preprocess_version=0),
     f"preprocess_version is 0 but this code uses {preprocess.VERSION}"),
    (lambda m: edit_json(m / "config.json", sampling_rate=250), "sampling_rate is 250 but this code uses 500"),
    (lambda m: edit_json(m / "config.json", length=5000), "length is 5000 but this code uses 10000"),
    (lambda m: edit_json(m / "config.json", classes=["AF", "Normal"]), "config.json: classes is ['AF', 'Normal']"),
    (lambda m: edit_json(m / "config.json", folds=3), "fold_2.json: missing"),
    (lambda m: edit_json(m / "thresholds.json", AF=0.25), "thresholds.json: differs from the thresholds in config"),
])
def test_bad_model_dir_fails_before_any_record(tiny_model, real_samples, tmp_path, damage, message):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("cache"))
    damage(model)
    result = drive(model, real_samples / "cinc2021", tmp_path / "out")
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_weights_are_never_unpickled(tiny_model, real_samples, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("cache"))
    marker = tmp_path / "pwned"
    set_weights(model, 0, {"weight": _Exploit(marker)})
    result = drive(model, real_samples / "cinc2021", tmp_path / "out")
    assert result.returncode == 1 and "fold_0.pt: cannot load weights" in result.stderr
    assert not marker.exists()


def test_killed_driver_leaves_no_half_written_output(tiny_model, real_samples, tmp_path):
    data = tmp_path / "many"
    data.mkdir()
    for i in range(60):
        copy_real(real_samples, "E07500", data, f"R{i:03d}")
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "driver.py", str(tiny_model), str(data), str(out), "--quiet"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while process.poll() is None and time.time() < deadline and len(list(out.glob("*.csv"))) < 5:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for path in out.glob("*.csv"):
        name, classes, binary, probabilities = read_output(path)
        assert name == path.stem and len(classes) == 9
    assert not [p for p in out.iterdir() if p.suffix != ".csv" and not p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def other_run(synth_train_dir, tmp_path_factory) -> Path:
    """A second model, trained as tiny_model is but with another seed: another run's files to mix in."""
    model = tmp_path_factory.mktemp("other") / "model"
    subprocess.run([sys.executable, "train_model.py", str(synth_train_dir), str(model), "--folds", "2", "--epochs",
                    "1", "--threads", "1", "--seed", "1", "--quiet"], cwd=ROOT, check=True, capture_output=True,
                   timeout=600)
    return model


@pytest.mark.parametrize("files,message", [
    (("fold_0.pt", "fold_0.json"), "fold_0.json: from another training run"),
    (("fold_0.pt",), "fold_0.pt: not the weights fold_0.json was written with"),
    (("thresholds.json",), "thresholds.json: differs from the thresholds in config.json"),
])
def test_files_of_another_run_are_refused_before_any_record(tiny_model, other_run, real_samples, tmp_path, files,
                                                            message):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("cache"))
    for name in files:
        shutil.copy(other_run / name, model / name)
    result = drive(model, real_samples / "cinc2021", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_output_dir_that_is_a_file_is_one_line(tiny_model, real_samples, tmp_path):
    out = tmp_path / "out"
    out.write_text("not a folder")
    result = drive(tiny_model, real_samples / "cinc2021", out)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {out}: cannot create the output directory (File exists)"
    assert out.read_text() == "not a folder"


def test_write_error_stops_with_one_line_and_leaves_nothing_half_written(tiny_model, real_samples, tmp_path):
    """A full disk as the kernel reports one: files may not grow past 50 bytes (an output has about 120)."""
    import resource

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (50, 50))

    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "driver.py", str(tiny_model), str(real_samples / "cinc2021"), str(out),
                             "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            preexec_fn=limit_file_size)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}/") and ".csv: cannot write (" in lines[0], lines
    assert list(out.iterdir()) == []


def test_nan_probabilities_are_named_per_record_not_written(tiny_model, real_samples, tmp_path):
    import torch
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("cache"))
    state = torch.load(model / "fold_0.pt", weights_only=True)
    set_weights(model, 0, {k: v.fill_(float("nan")) if v.is_floating_point() else v for k, v in state.items()})
    data = tmp_path / "two"
    data.mkdir()
    copy_real(real_samples, "E07500", data, "one")
    copy_real(real_samples, "E07501", data, "two")
    result = drive(model, data, tmp_path / "out")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for name in ("one", "two"):
        lines = [line for line in result.stderr.splitlines() if line.startswith(f"error: record {name}:")]
        assert len(lines) == 1 and f"{name}.csv: probabilities must lie in [0, 1]" in lines[0], result.stderr
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("value, reason", [("0", "must be at least 1, got '0'"), ("-4", "must be at least 1, got '-4'"),
                                           ("many", "must be a whole number, got 'many'")])
def test_a_bad_batch_size_is_a_usage_error_before_anything_is_read(tmp_path, capsys, value, reason):
    with pytest.raises(SystemExit) as stopped:
        driver.main([str(tmp_path / "model"), str(tmp_path / "test"), str(tmp_path / "out"), "--batch-size", value])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f": error: argument --batch-size: {reason}")
    assert list(tmp_path.iterdir()) == []
