"""The final-phase Challenge 2020 scorer: hand-computed cases, and equality (==) with a loop-based transcription of the
official final-phase evaluate_12ECG_score.py, on arrays and on label and output directories."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from team_code.io.output_csv import write_output
from team_code.labels import CINC2020_EQUIVALENT, CINC2020_NORMAL, CINC2020_SCORED
from team_code.scoring import challenge2020
from team_code.scoring.challenge2020 import CLASSES, WEIGHTS
from team_code.scoring.score_folders import evaluate_challenge2020

EQUIVALENT = [list(pair) for pair in CINC2020_EQUIVALENT]

# --- The official final-phase definitions, written the way evaluate_12ECG_score.py (evaluation-2020, the version that
# --- takes the scored classes from weights.csv) computes them: Python loops with `+=`, NaN for undefined ratios.


def official_replace(codes):
    codes = list(codes)
    for j, x in enumerate(codes):
        for pair in EQUIVALENT:
            if x in pair:
                codes[j] = pair[0]
    return codes


def official_weights():
    lines = [[a.strip() for a in line.split(",")] for line in challenge2020.WEIGHTS_FILE.read_text().splitlines()]
    rows = official_replace(lines[0][1:])
    values = np.array([[float(v) for v in line[1:]] for line in lines[1:]])
    classes = [x for j, x in enumerate(rows) if x not in rows[:j]]
    index = [rows.index(x) for x in classes]
    return classes, values[np.ix_(index, index)]


def official_labels(label_files, classes):
    dx_lists = []
    for path in label_files:
        with open(path) as f:
            for line in f:
                if line.startswith("#Dx"):
                    dx_lists.append(official_replace(a.strip() for a in line.split(": ")[1].split(",")))
    labels = np.zeros((len(label_files), len(classes)), dtype=bool)
    for i, dxs in enumerate(dx_lists):
        for j, x in enumerate(classes):
            if x in dxs:
                labels[i, j] = 1
    return labels


def official_is_number(x):
    try:
        float(x)
        return True
    except ValueError:
        return False


def official_outputs(output_files, classes):
    names, binaries, scalars = [], [], []
    for path in output_files:
        with open(path) as f:
            lines = [line for line in f if line.strip() and not line.strip().startswith("#")]
        lengths = [len(line.split(",")) for line in lines]
        if len(lines) >= 3 and len(set(lengths)) == 1:
            fields = [[a.strip() for a in line.split(",")] for line in lines[:3]]
            names.append(official_replace(fields[0]))
            binaries.append([1 if a in ("1", "True", "true", "T", "t") else 0 for a in fields[1]])
            scalars.append([float(a) if official_is_number(a) else 0 for a in fields[2]])
        else:  # "formatting errors, so all outputs are assumed to be negative for this recording"
            names.append([])
            binaries.append([])
            scalars.append([])
    return official_merge(names, binaries, scalars, classes)


def official_merge(names, binaries, scalars, classes):
    binary = np.zeros((len(names), len(classes)), dtype=bool)
    scalar = np.zeros((len(names), len(classes)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, dxs in enumerate(names):
            for j, x in enumerate(classes):
                indices = [k for k, y in enumerate(dxs) if x == y]
                if indices:
                    binary[i, j] = np.any([binaries[i][k] for k in indices])
                    scalar[i, j] = np.nanmean([scalars[i][k] for k in indices])
    scalar[np.isnan(scalar)] = 0
    return binary, scalar


def official_accuracy(labels, outputs):
    correct = 0
    for i in range(len(labels)):
        if np.all(labels[i, :] == outputs[i, :]):
            correct += 1
    return float(correct) / float(len(labels))


def official_confusion(labels, outputs, normalize):
    num_recordings, num_classes = labels.shape
    table = np.zeros((num_classes, 2, 2))
    for i in range(num_recordings):
        weight = 1.0 / float(max(np.sum(labels[i, :]), 1)) if normalize else 1
        for j in range(num_classes):
            table[j, int(outputs[i, j]), int(labels[i, j])] += weight
    return table


def official_f_measure(labels, outputs):
    table = official_confusion(labels, outputs, normalize=False)
    values = np.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        tp, fp, fn = table[k, 1, 1], table[k, 1, 0], table[k, 0, 1]
        values[k] = float(2 * tp) / float(2 * tp + fp + fn) if 2 * tp + fp + fn else float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values), values


def official_beta(labels, outputs, beta=2):
    table = official_confusion(labels, outputs, normalize=True)
    f_beta, g_beta = np.zeros(labels.shape[1]), np.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        tp, fp, fn = table[k, 1, 1], table[k, 1, 0], table[k, 0, 1]
        if (1 + beta**2) * tp + fp + beta**2 * fn:
            f_beta[k] = float((1 + beta**2) * tp) / float((1 + beta**2) * tp + fp + beta**2 * fn)
        else:
            f_beta[k] = float("nan")
        g_beta[k] = float(tp) / float(tp + fp + beta * fn) if tp + fp + beta * fn else float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(f_beta), np.nanmean(g_beta)


def official_auc(labels, outputs):
    num_recordings, num_classes = labels.shape
    auroc, auprc = np.zeros(num_classes), np.zeros(num_classes)
    for k in range(num_classes):
        thresholds = np.unique(outputs[:, k])
        thresholds = np.append(thresholds, thresholds[-1] + 1)[::-1]
        m = len(thresholds)
        tp, fp, fn, tn = np.zeros(m), np.zeros(m), np.zeros(m), np.zeros(m)
        fn[0], tn[0] = np.sum(labels[:, k] == 1), np.sum(labels[:, k] == 0)
        idx = np.argsort(outputs[:, k])[::-1]
        i = 0
        for j in range(1, m):
            tp[j], fp[j], fn[j], tn[j] = tp[j - 1], fp[j - 1], fn[j - 1], tn[j - 1]
            while i < num_recordings and outputs[idx[i], k] >= thresholds[j]:
                if labels[idx[i], k]:
                    tp[j] += 1
                    fn[j] -= 1
                else:
                    fp[j] += 1
                    tn[j] -= 1
                i += 1
        tpr, tnr, ppv = np.zeros(m), np.zeros(m), np.zeros(m)
        for j in range(m):
            tpr[j] = float(tp[j]) / float(tp[j] + fn[j]) if tp[j] + fn[j] else float("nan")
            tnr[j] = float(tn[j]) / float(fp[j] + tn[j]) if fp[j] + tn[j] else float("nan")
            ppv[j] = float(tp[j]) / float(tp[j] + fp[j]) if tp[j] + fp[j] else float("nan")
        for j in range(m - 1):
            auroc[k] += 0.5 * (tpr[j + 1] - tpr[j]) * (tnr[j + 1] + tnr[j])
            auprc[k] += (tpr[j + 1] - tpr[j]) * ppv[j + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(auroc), np.nanmean(auprc), auroc, auprc


def official_modified_confusion(labels, outputs):
    num_recordings, num_classes = labels.shape
    table = np.zeros((num_classes, num_classes))
    for i in range(num_recordings):
        normalization = float(max(np.sum(np.any((labels[i, :], outputs[i, :]), axis=0)), 1))
        for j in range(num_classes):
            if labels[i, j]:
                for k in range(num_classes):
                    if outputs[i, k]:
                        table[j, k] += 1.0 / normalization
    return table


def official_challenge_metric(weights, labels, outputs, classes):
    observed = np.nansum(weights * official_modified_confusion(labels, outputs))
    correct = np.nansum(weights * official_modified_confusion(labels, labels))
    inactive_outputs = np.zeros(labels.shape, dtype=bool)
    inactive_outputs[:, classes.index(CINC2020_NORMAL)] = 1
    inactive = np.nansum(weights * official_modified_confusion(labels, inactive_outputs))
    return float(observed - inactive) / float(correct - inactive) if correct != inactive else 0.0


def official_scores(labels, binary, scalar):
    classes, weights = official_weights()
    auroc, auprc, _, _ = official_auc(labels, scalar)
    f_beta, g_beta = official_beta(labels, binary)
    return (auroc, auprc, official_accuracy(labels, binary), official_f_measure(labels, binary)[0], f_beta, g_beta,
            official_challenge_metric(weights, labels, binary, classes))


def official_evaluate(label_directory, output_directory):
    classes, _ = official_weights()
    label_files, output_files = [], []
    for f in sorted(os.listdir(label_directory)):
        if f.lower().endswith(".hea") and not f.startswith("."):
            label_files.append(os.path.join(label_directory, f))
            output_files.append(os.path.join(output_directory, os.path.splitext(f)[0] + ".csv"))
    labels = official_labels(label_files, classes)
    binary, scalar = official_outputs(output_files, classes)
    scores = official_scores(labels, binary, scalar)
    return ("AUROC,AUPRC,Accuracy,F-measure,Fbeta-measure,Gbeta-measure,Challenge metric\n"
            + ",".join(f"{s:.3f}" for s in scores)), scores


# --- Equality with the transcription.

def ours(labels, binary, scalar):
    m = challenge2020.measures(labels, binary, scalar)
    return tuple(m[key] for key in challenge2020.SCORE_KEYS)


def same(a, b) -> bool:
    """Equal to the last bit, NaN equal to NaN."""
    return len(a) == len(b) and all((x == y) or (np.isnan(x) and np.isnan(y)) for x, y in zip(a, b))


def test_classes_and_weights_are_the_official_ones():
    classes, weights = official_weights()
    assert list(CLASSES) == classes and len(CLASSES) == 24
    assert np.array_equal(WEIGHTS, weights)
    assert (np.diag(WEIGHTS) == 1).all() and np.array_equal(WEIGHTS, WEIGHTS.T)
    assert all(second not in CLASSES for _, second in CINC2020_EQUIVALENT)
    assert set(CLASSES) | {second for _, second in CINC2020_EQUIVALENT} == set(CINC2020_SCORED)


def random_case(rng: np.random.Generator, num_records: int):
    """Labels with 0-4 classes a record (some records without a scored class), outputs with ties, 0s and 1s."""
    labels = np.zeros((num_records, len(CLASSES)), dtype=bool)
    common = rng.choice(len(CLASSES), size=int(rng.integers(1, 8)), replace=False)
    for row in labels:
        row[rng.choice(common, size=min(int(rng.integers(0, 5)), len(common)), replace=False)] = True
    binary = rng.random(labels.shape) < rng.uniform(0.02, 0.3)
    binary |= labels & (rng.random(labels.shape) < rng.random())
    grid = rng.choice([4, 20, 10**6])
    scalar = np.round(rng.random(labels.shape) * grid) / grid
    return labels, binary, scalar


@pytest.mark.parametrize("seed", range(40))
def test_measures_equal_the_official_loops_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    labels, binary, scalar = random_case(rng, int(rng.integers(1, 50)))
    assert same(ours(labels, binary, scalar), official_scores(labels, binary, scalar))
    auroc, auprc = challenge2020.auc_per_class(labels, scalar)
    _, _, official_auroc, official_auprc = official_auc(labels, scalar)
    assert same(auroc, official_auroc) and same(auprc, official_auprc)
    assert same(challenge2020.f_measure_per_class(labels, binary), official_f_measure(labels, binary)[1])


@pytest.mark.parametrize("seed", range(10))
def test_auc_equals_the_official_walk_on_any_probability_an_output_file_may_hold(seed):
    """evaluate.py reads outputs as the official script does, so percentages and +-inf reach the AUC walk."""
    rng = np.random.default_rng(seed)
    labels, _, scalar = random_case(rng, int(rng.integers(2, 30)))
    scalar = np.where(rng.random(scalar.shape) < 0.3, scalar * 100, scalar)
    scalar[rng.random(scalar.shape) < 0.1] = np.inf
    scalar[rng.random(scalar.shape) < 0.1] = -np.inf
    auroc, auprc = challenge2020.auc_per_class(labels, scalar)
    _, _, official_auroc, official_auprc = official_auc(labels, scalar)
    assert same(auroc, official_auroc) and same(auprc, official_auprc)


def test_sums_span_chunks_in_record_order(monkeypatch):
    rng = np.random.default_rng(7)
    labels, binary, scalar = random_case(rng, 45)
    monkeypatch.setattr(challenge2020, "_CHUNK", 4)  # 12 chunks: each carries the running sum into the next
    assert same(ours(labels, binary, scalar), official_scores(labels, binary, scalar))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_column_merging_equals_the_official_rules(data):
    """Output columns: scored codes, their equivalents, repeats and unscored codes, probabilities with NaN."""
    pool = list(CINC2020_SCORED[:6]) + ["59118001", "17338001", "63593006", "251146004", "164884008", "0"]
    columns = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=10))
    n = data.draw(st.integers(1, 4))
    binary = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=len(columns), max_size=len(columns)),
                                         min_size=n, max_size=n)))
    value = st.sampled_from([0.0, 0.25, 1.0, float("nan")]) | st.floats(0, 1)
    scalar = np.array(data.draw(st.lists(st.lists(value, min_size=len(columns), max_size=len(columns)),
                                         min_size=n, max_size=n)))
    merged_binary, merged = challenge2020.merge_columns(columns, binary, scalar)
    expected_binary, expected = official_merge([official_replace(columns)] * n, binary.astype(int).tolist(),
                                               scalar.tolist(), list(CLASSES))
    assert np.array_equal(merged_binary, expected_binary)
    assert np.array_equal(merged, expected)


def write_header(directory: Path, name: str, dx: str) -> None:
    (directory / f"{name}.hea").write_text(f"{name} 12 500 5000\n#Age: 50\n#Sex: Male\n#Dx: {dx}\n")


def write_case(tmp_path: Path, seed: int) -> tuple[Path, Path]:
    """Label headers with scored, equivalent and unscored codes; outputs over all 27 codes, the pairs' second codes
    with their own binary outputs and probabilities, and a few unscored columns."""
    rng = np.random.default_rng(seed)
    labels_dir, outputs_dir = tmp_path / "labels", tmp_path / "outputs"
    labels_dir.mkdir()
    outputs_dir.mkdir()
    codes = list(CINC2020_SCORED) + ["164884008", "251146004", "55827005"]
    columns = list(CINC2020_SCORED) + ["164884008", "111111"]
    for i in range(int(rng.integers(3, 40))):
        name = f"R{i:04d}"
        dx = rng.choice(codes, size=int(rng.integers(1, 4)), replace=False)
        write_header(labels_dir, name, ",".join(dx))
        binary = (rng.random(len(columns)) < 0.15).astype(int)
        probabilities = np.round(rng.random(len(columns)) * 50) / 50
        write_output(outputs_dir, name, columns, binary, probabilities)
    return labels_dir, outputs_dir


@pytest.mark.parametrize("seed", range(8))
def test_directories_score_as_the_official_script_scores_them(tmp_path, seed):
    labels_dir, outputs_dir = write_case(tmp_path, seed)
    text, expected = official_evaluate(labels_dir, outputs_dir)
    scores = evaluate_challenge2020(labels_dir, outputs_dir)
    assert same(tuple(scores[key] for key in challenge2020.SCORE_KEYS), expected)
    assert challenge2020.format_scores(scores) == text


# --- Hand-computed cases. Classes used: AF 164889003, atrial flutter 164890007, IAVB 270492004, normal 426783006.
AF, AFL, IAVB, NORMAL = "164889003", "164890007", "270492004", CINC2020_NORMAL


def matrix(rows: list[list[str]]) -> np.ndarray:
    return challenge2020.label_matrix(rows)


def test_outputting_the_labels_scores_one_and_normal_alone_scores_zero():
    labels = matrix([[AF], [IAVB, AFL], [NORMAL], ["713427006", "445118002"]])
    assert challenge2020.challenge_metric(labels, labels) == 1.0
    assert challenge2020.challenge_metric(labels, matrix([[NORMAL]] * 4)) == 0.0


def test_a_swap_between_two_classes_is_weighted_as_the_matrix_says():
    # The matrix gives AF -> atrial flutter 0.5, AF -> normal 0.25. Record 1: label AF, output atrial flutter
    # (2 classes in labels or outputs: each pair counts 1/2); record 2: normal, output normal.
    # observed = 0.5 * 1/2 + 1 = 1.25; correct = 1 + 1 = 2; normal alone = 0.25 * 1/2 + 1 = 1.125.
    labels = matrix([[AF], [NORMAL]])
    outputs = matrix([[AFL], [NORMAL]])
    assert WEIGHTS[CLASSES.index(AF), CLASSES.index(AFL)] == 0.5
    assert WEIGHTS[CLASSES.index(AF), CLASSES.index(NORMAL)] == 0.25
    assert challenge2020.challenge_metric(labels, outputs) == pytest.approx((1.25 - 1.125) / (2 - 1.125), abs=1e-15)
    # AF -> IAVB weighs 0.3: observed 0.15 + 1 = 1.15.
    assert challenge2020.challenge_metric(labels, matrix([[IAVB], [NORMAL]])) == pytest.approx(
        (1.15 - 1.125) / 0.875, abs=1e-15)


def test_equivalent_codes_are_one_class_for_labels_and_outputs():
    # A label of the pair's second code and an output of its first code are a correct answer.
    labels = matrix([["59118001"], ["17338001", AF]])
    outputs, _ = challenge2020.merge_columns(["713427006", "427172004", AF], np.array([[1, 0, 0], [0, 1, 1]]))
    assert np.array_equal(labels, outputs)
    assert challenge2020.challenge_metric(labels, outputs) == 1.0


def test_output_merging_ors_binaries_averages_probabilities_and_zeroes_nan():
    columns = ["713427006", "59118001", AF, "164884008"]
    binary, probabilities = challenge2020.merge_columns(
        columns, np.array([[0, 1, 0, 1]]), np.array([[0.2, 0.6, float("nan"), 0.9]]))
    rbbb, af = CLASSES.index("713427006"), CLASSES.index(AF)
    assert binary[0].nonzero()[0].tolist() == [rbbb]  # the unscored column 164884008 is ignored
    assert probabilities[0, rbbb] == pytest.approx(0.4, abs=1e-15) and probabilities[0, af] == 0.0
    assert probabilities[0].sum() == probabilities[0, rbbb]


def test_a_record_without_scored_codes_is_an_all_negative_row():
    labels = matrix([[AF], ["164884008"]])
    assert not labels[1].any()
    outputs = matrix([[AF], []])
    assert challenge2020.accuracy(labels, outputs) == 1.0
    assert challenge2020.challenge_metric(labels, outputs) == 1.0  # the unlabelled record adds nothing anywhere
    assert challenge2020.accuracy(labels, matrix([[AF], [NORMAL]])) == 0.5


def test_undefined_measures_are_nan_and_skipped_in_the_means():
    labels = matrix([[AF], [AF]])
    outputs = matrix([[AF], [IAVB]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = challenge2020.measures(labels, outputs, outputs.astype(float))
    af, iavb = CLASSES.index(AF), CLASSES.index(IAVB)
    # Only AF and IAVB have a positive label or output: F-measure AF 2/3, IAVB 0, the rest undefined.
    assert m["f_measure"] == pytest.approx(1 / 3, abs=1e-15)
    assert np.isnan(np.delete(m["f_measure_per_class"], [af, iavb])).all()
    # AUROC is undefined for every class (AF has no negatives, the others no positives): NaN is printed.
    assert np.isnan(m["auroc"]) and challenge2020.format_scores(m).splitlines()[1].startswith("nan,")
    # AUPRC is defined for AF alone (thresholds 2, 1, 0: recall 0, 1/2, 1 at precision 1): 1.
    assert m["auprc"] == 1.0


def test_format_is_the_two_comma_separated_lines():
    scores = {key: value for key, value in zip(challenge2020.SCORE_KEYS, (0.8125, 0.5, 2 / 3, 0.6, 0.60389, 0.4555,
                                                                          -0.1234))}
    assert challenge2020.format_scores(scores) == (
        "AUROC,AUPRC,Accuracy,F-measure,Fbeta-measure,Gbeta-measure,Challenge metric\n"
        "0.812,0.500,0.667,0.600,0.604,0.456,-0.123")
