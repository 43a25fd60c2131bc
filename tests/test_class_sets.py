"""Class sets as data: cpsc2018 reads labels as before, cinc2020 reads them as the final-phase scorer does."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from team_code import class_sets, labels
from team_code.data.cache import CachedRecords, build_cache
from team_code.io.records import RecordError, find_records, read_dx
from team_code.scoring import challenge2020

CPSC = class_sets.get("cpsc2018")
CINC = class_sets.get("cinc2020")


def _official_truth(dxs: list[set[str]]) -> tuple[list[str], np.ndarray]:
    """The final-phase scorer's reading of label sets (load_labels of the final evaluate_12ECG_score.py, 2020),
    restated here independently: the scored classes are weights.csv's codes with each pair's second code replaced
    by its first; a record is positive for a class when one of its codes, so replaced, is that class."""
    replace = {second: first for first, second in labels.CINC2020_EQUIVALENT}
    classes = list(dict.fromkeys(replace.get(c, c) for c in labels.CINC2020_SCORED))
    truth = np.array([[c in {replace.get(d, d) for d in dx} for c in classes] for dx in dxs], dtype=bool)
    return classes, truth


def test_cpsc2018_reads_labels_as_the_labels_module(real_samples: Path):
    headers = sorted((real_samples / "cinc2021").glob("*.hea"))
    token_sets = [read_dx(h) for h in headers] + [("af", "rbbb", "x"), ("NORMAL",), (" 17338001 ", ""), ()]
    for dx in token_sets:
        assert CPSC.labels_of(dx) == labels.to_classes(dx), dx
    assert CPSC.classes == CPSC.columns == labels.CLASSES and CPSC.normal == "Normal"
    assert (CPSC.objective, CPSC.loss) == ("f2g2", "softmax")


def test_cinc2020_has_24_classes_and_writes_the_27_scored_codes():
    assert CINC.columns == labels.CINC2020_SCORED and len(CINC.columns) == 27
    assert len(CINC.classes) == 24 and set(CINC.classes) <= set(CINC.columns)
    assert (CINC.objective, CINC.loss, CINC.normal) == ("challenge2020", "bce", "426783006")
    per_class = np.arange(24) / 100
    columns = CINC.to_columns(per_class)
    for first, second in labels.CINC2020_EQUIVALENT:
        assert first in CINC.classes and second not in CINC.classes
        assert columns[CINC.columns.index(first)] == columns[CINC.columns.index(second)] \
            == per_class[CINC.classes.index(first)]
    for k, code in enumerate(CINC.classes):
        assert columns[CINC.columns.index(code)] == per_class[k]


@pytest.mark.parametrize("dx, expected", [
    (("59118001", "426177001"), ["713427006", "426177001"]),      # a pair's second code is its first
    (("426783006",), ["426783006"]),                              # normal alone
    (("164934002", "426783006"), ["426783006", "164934002"]),     # normal beside another class: both
    (("426783006", "55930002"), ["426783006"]),                   # unscored codes dropped
    (("67741000119109", "426177001"), ["426177001"]),
    (("164873001",), []),                                         # nothing scored
    (("713427006", "59118001", " 426783006"), ["713427006", "426783006"]),
])
def test_cinc2020_labels_by_hand(dx, expected):
    assert CINC.labels_of(dx) == expected


def test_cinc2020_labels_of_the_real_headers_are_the_official_truth(real_samples: Path):
    headers = sorted((real_samples / "cinc2021").glob("*.hea"))
    dxs = [set(read_dx(h)) for h in headers]
    classes, truth = _official_truth(dxs)
    assert classes == list(CINC.classes)
    assert truth.any(axis=0).sum() >= 12  # the sample headers span many of the scored classes
    for dx, row in zip(dxs, truth):
        assert CINC.vector(CINC.labels_of(dx)).astype(bool).tolist() == row.tolist(), dx
    # ... and what evaluate.py scores against: the same classes, the same matrix.
    assert challenge2020.CLASSES == CINC.classes
    assert (challenge2020.label_matrix(dxs) == truth).all()


def test_cache_skips_records_with_nothing_scored_and_counts_them(real_samples: Path, tmp_path: Path, capsys):
    data = tmp_path / "data"
    shutil.copytree(real_samples / "cinc2021", data)
    cached = CachedRecords.open(build_cache(data, tmp_path / "cache", class_set=CINC))
    headers = sorted(data.glob("*.hea"))
    unscored = [h.stem for h in headers if not CINC.labels_of(read_dx(h))]
    assert len(unscored) >= 2 and set(cached.names) == {h.stem for h in headers} - set(unscored)
    assert cached.class_set is CINC and cached.labels.shape == (len(headers) - len(unscored), 24)
    for name, row in zip(cached.names, cached.labels):
        assert row.tolist() == CINC.vector(CINC.labels_of(read_dx(data / f"{name}.hea"))).tolist()
    lines = capsys.readouterr().err.splitlines()
    for name in unscored:  # one line each, naming the record and its codes
        assert sum(line.startswith(f"skipped {data / name}: no label among") for line in lines) == 1
    assert f"skipped {len(unscored)} of {len(headers)} records (0 unreadable, {len(unscored)} without a label " \
           f"among {CINC.description}); training on {len(headers) - len(unscored)}" in lines
    # The same folder for cpsc2018 is another cache with other labels.
    nine = CachedRecords.open(build_cache(data, tmp_path / "cache"))
    assert nine.path != cached.path and nine.labels.shape[1] == 9 and nine.class_set is CPSC


def _touch_record(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.hea").write_text("x")
    (folder / f"{name}.mat").write_bytes(b"")


def test_records_are_found_in_sub_folders_and_a_repeated_name_is_refused(tmp_path: Path):
    _touch_record(tmp_path / "cpsc_2018" / "g1", "A0001")
    _touch_record(tmp_path / "ptb-xl" / "g1", "HR00001")
    _touch_record(tmp_path, "Q0001")
    _touch_record(tmp_path / ".hidden", "H0001")
    (tmp_path / "cpsc_2018" / "notes.txt").write_text("not a record")
    found = find_records(tmp_path)
    assert found == {"A0001": tmp_path / "cpsc_2018" / "g1" / "A0001",
                     "HR00001": tmp_path / "ptb-xl" / "g1" / "HR00001", "Q0001": tmp_path / "Q0001"}
    _touch_record(tmp_path / "georgia", "A0001")
    with pytest.raises(RecordError) as error:
        find_records(tmp_path)
    message = str(error.value)
    assert "two records named A0001" in message and "\n" not in message
    assert str(tmp_path / "cpsc_2018" / "g1" / "A0001") in message and str(tmp_path / "georgia" / "A0001") in message


def _written_model(directory: Path, class_set: str, loss: str) -> None:
    import torch

    from team_code.nn.networks import build_model
    from team_code.training import model_dir
    from team_code.training.cv_results import FoldResult

    classes = class_sets.get(class_set).classes
    state = build_model("crnn", len(classes)).state_dict()
    model_dir.save_fold(directory, FoldResult(fold=0, fingerprint="run", best_epoch=1, best_val_cross_entropy=0.5,
                                              history=[], records=["A"], probabilities=np.zeros((1, len(classes))),
                                              state_dict={k: torch.clone(v) for k, v in state.items()}))
    model_dir.write_model(directory, arch="crnn", folds=1, run_fingerprint="run", thresholds=np.full(len(classes), 0.3),
                          training={}, records=1, class_set=class_set, loss=loss)


def test_model_dir_records_the_class_set_and_refuses_one_it_does_not_know(tmp_path: Path):
    import json

    from team_code.inference.ensemble import Ensemble
    from team_code.training import model_dir

    _written_model(tmp_path, "cinc2020", "bce")
    ensemble = Ensemble.load(tmp_path)
    assert ensemble.class_set is CINC and ensemble.loss == "bce" and ensemble.classes == list(CINC.classes)
    assert ensemble.columns == list(labels.CINC2020_SCORED) and ensemble.thresholds.shape == (24,)
    config_path = tmp_path / "config.json"
    config = json.loads(config_path.read_text())
    for key, value, message in (("class_set", "cinc2019", "class set 'cinc2019' is not one this code knows"),
                                ("class_set", ["cinc2020"], "class set \\['cinc2020'\\] is not one"),
                                ("loss", "hinge", "loss 'hinge' is not one of softmax, bce"),
                                ("classes", list(CINC.classes[:-1]), "classes is .* but this code uses")):
        config_path.write_text(json.dumps({**config, key: value}))
        with pytest.raises(model_dir.ModelError, match=f"config.json: {message}"):
            model_dir.load(tmp_path)


def test_a_config_from_before_class_sets_is_a_cpsc2018_softmax_model(tmp_path: Path):
    import json

    from team_code.inference.ensemble import Ensemble

    _written_model(tmp_path, "cpsc2018", "softmax")
    config_path = tmp_path / "config.json"
    config = json.loads(config_path.read_text())
    del config["class_set"], config["loss"]
    config_path.write_text(json.dumps(config))
    ensemble = Ensemble.load(tmp_path)
    assert ensemble.class_set is CPSC and ensemble.loss == "softmax" and ensemble.columns == list(labels.CLASSES)


@pytest.mark.parametrize("dx_lists, expected", [
    ([("164889003",), ("59118001", "426783006")], "cinc2020"),     # the final-phase release: SNOMED CT codes
    ([(" 164889003 ",), ()], "cinc2020"),                          # spaces and an unlabelled record
    ([("AF",), ("RBBB", "STD")], "cpsc2018"),                      # the nine abbreviations
    ([("164889003",), ("AF",)], "cpsc2018"),                       # mixed: cinc2020 could not read the AF record
    ([(), ()], "cpsc2018"),                                        # no labels at all: the default
    ([], "cpsc2018"),
])
def test_the_labels_choose_the_class_set(dx_lists, expected):
    assert class_sets.for_labels(dx_lists) == expected
