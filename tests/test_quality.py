"""The quality benchmark's robustness table and held-out mixture: candidate options, sources, the perturbed test
sets, what the tables flag, and --quick smoke runs of both (their numbers are not checked: benchmarks measure)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulators import perturb
from team_code.data import preprocess
from team_code.io.records import read_header, record_names
from team_code.labels import CLASSES
from team_code.scoring.f2g2 import beta_measures
from team_code.training.train import TrainOptions
from tools import transfer

ROOT = Path(__file__).resolve().parents[1]


def test_candidate_options_are_read_as_their_fields_types():
    options = transfer.parse_options("augment=false, learning_rate=0.002,patience=none,lr_schedule=constant")
    assert (options.augment, options.learning_rate, options.patience, options.lr_schedule) == \
        (False, 0.002, None, "constant")
    assert transfer.parse_options("batch_size=16").batch_size == 16
    assert transfer.parse_options("") == transfer.parse_options("defaults") == TrainOptions()


@pytest.mark.parametrize("text, message", [
    ("augmentation=false", "not an option"), ("epochs=1", "not an option"), ("augment=maybe", "not a bool"),
    ("batch_size=1.5", "not a int"), ("arch=big", "choose one of"), ("classes=cinc2020", "choose one of"),
])
def test_candidate_options_refuse_what_a_candidate_cannot_set(text, message):
    with pytest.raises(ValueError, match=message):
        transfer.parse_options(text)


def test_sources_name_a_generator_and_a_setting():
    assert transfer.split_source("synth") == ("synth", "clean")
    assert transfer.split_source("altsim/fs_250") == ("altsim", "fs_250")
    for bad in ("synth/lowpass", "ptbxl/clean", "synth/seconds_10"):
        with pytest.raises(ValueError, match="unknown source"):
            transfer.split_source(bad)


def by_length(signals):
    """A stand-in classifier that reads only a record's length: AF from 30 s on, Normal below."""
    binary = np.zeros((len(signals), len(CLASSES)), dtype=bool)
    for k, signal in enumerate(signals):
        binary[k, CLASSES.index("AF" if signal.shape[1] >= 30 * preprocess.FS else "Normal")] = True
    return binary


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory):
    work = tmp_path_factory.mktemp("quality")
    sets = transfer.make_test_sets(work, 3)
    return sets, transfer.perturbed_test_sets(work, sets, 3)


def test_perturbed_test_sets_copy_both_test_sets_per_family(perturbed):
    sets, folders = perturbed
    assert list(folders) == ["clean", *perturb.FAMILIES, *perturb.LENGTHS]
    for family, per_set in folders.items():
        assert list(per_set) == list(transfer.GENERATORS)
        for name, folder in per_set.items():
            assert record_names(folder) == record_names(sets[name]), (family, name)
    for name in transfer.GENERATORS:
        for record in record_names(sets[name]):
            ten, sixty = (read_header(folders[f"seconds_{s}"][name] / f"{record}.hea") for s in (10, 60))
            assert ten.dx == sixty.dx == read_header(sets[name] / f"{record}.hea").dx
            assert (ten.num_samples / ten.fs, sixty.num_samples / sixty.fs) == pytest.approx((10, 60), abs=0.01)


def test_robustness_scores_every_family_and_counts_hearts_whose_labels_change_with_length(perturbed):
    _, folders = perturbed
    result = transfer.robustness(folders, [by_length])
    assert list(result.scores) == list(folders) and result.records == {"synth": 3, "altsim": 3}
    assert result.length_changes == {"synth": (3, 3), "altsim": (3, 3)}  # every heart: Normal at 10 s, AF at 60
    steady = transfer.robustness(folders, [lambda signals: by_length([s[:, :100] for s in signals])])
    assert steady.length_changes == {"synth": (0, 3), "altsim": (0, 3)}
    assert len({scores["synth"] for scores in steady.scores.values()}) == 1  # the same labels: the same score


def test_robustness_over_several_models_is_their_mean_and_sums_the_length_changes(perturbed):
    _, folders = perturbed
    steady_classify = lambda signals: by_length([s[:, :100] for s in signals])  # noqa: E731
    one, other = (transfer.robustness(folders, [c]) for c in (by_length, steady_classify))
    both = transfer.robustness(folders, [by_length, steady_classify])
    assert both.models == 2 and both.records == one.records
    for family in folders:
        for name in transfer.GENERATORS:
            expected = np.mean([one.scores[family][name], other.scores[family][name]], axis=0)
            assert both.scores[family][name] == pytest.approx(tuple(expected))
    assert both.length_changes == {"synth": (3, 6), "altsim": (3, 6)}
    assert "the mean of 2 models" in "\n".join(transfer.robustness_markdown("title", both))


def test_robustness_table_marks_families_more_than_the_margin_below_clean():
    result = transfer.Robustness({"clean": {"synth": (0.80, 0.60)}, "lead_gains": {"synth": (0.76, 0.55)},
                                  "pacing_spikes": {"synth": (0.70, 0.50)}}, {"synth": 300}, {"synth": (4, 300)})
    text = "\n".join(transfer.robustness_markdown("title", result))
    assert "(300 synth records;" in text
    assert "| lead_gains | 0.760 (-0.040) | 0.550 |" in text
    assert "| pacing_spikes | **0.700 (-0.100)** | 0.500 |" in text
    assert "different labels in 4 of 300 synth records" in text


def test_robustness_keeps_each_class_f2_per_family(perturbed):
    """A classifier whose AF output depends on the chest leads: only AF's F2 can differ on the six-lead copies."""
    _, folders = perturbed
    af = CLASSES.index("AF")

    def classify(signals):
        labels = np.zeros((len(signals), len(CLASSES)), dtype=bool)
        labels[:, af] = [bool(np.abs(s[6:]).sum() > 0) for s in signals]  # AF, unless the chest leads are flat
        return labels

    families = {f: folders[f] for f in ("clean", "limb_leads_only")}
    result = transfer.robustness(families, [classify, by_length])
    for family, sets in families.items():
        for name, folder in sets.items():
            expected = np.mean([beta_measures(*transfer.label_folder(folder, c))["f_beta_per_class"]
                                for c in (classify, by_length)], axis=0)
            np.testing.assert_allclose(result.per_class[family][name], expected)
    alone = transfer.robustness(families, [classify])
    loss = alone.per_class["limb_leads_only"]["synth"] - alone.per_class["clean"]["synth"]
    assert np.all(np.delete(loss, af) == 0)


def test_robustness_table_says_which_classes_a_family_below_the_margin_loses():
    per_class = {"clean": {"synth": np.full(len(CLASSES), 0.8)},
                 "lead_gains": {"synth": np.full(len(CLASSES), 0.78)},
                 "limb_leads_only": {"synth": np.where(np.isin(CLASSES, ["STD", "STE"]), 0.2, 0.8)}}
    result = transfer.Robustness({"clean": {"synth": (0.80, 0.60)}, "lead_gains": {"synth": (0.78, 0.58)},
                                  "limb_leads_only": {"synth": (0.67, 0.45)}}, {"synth": 300}, {}, 1, per_class)
    text = "\n".join(transfer.robustness_markdown("title", result))
    row = "| limb_leads_only | synth | " + " | ".join("-0.60" if c in ("STD", "STE") else "+0.00" for c in CLASSES)
    assert row + " |" in text
    assert "| lead_gains | synth |" not in text  # within the margin: no breakdown


def test_mixture_flags_the_worst_held_out_source_not_the_training_source():
    scores = {"synth/clean": [(0.5, 0.3), (0.5, 0.3)], "altsim/clean": [(0.8, 0.6), (0.6, 0.4)],
              "altsim/fs_250": [(0.75, 0.5), (0.75, 0.5)]}
    run = transfer.MixtureRun("defaults", "synth/clean", scores)
    assert run.held_out == ["altsim/clean", "altsim/fs_250"]
    assert run.worst == "altsim/clean"  # mean F2 0.70 over the seeds, below 0.75
    text = transfer.mixture_markdown([run], 400, 3, 300)
    assert "| synth/clean (training source) | 0.500 | 0.300 |" in text
    assert "| altsim/clean **(worst held-out)** | 0.700 | 0.500 |" in text
    assert "| defaults | synth/clean | altsim/clean | 0.700 | 0.500 | 0.725 | 0.500 |" in text


def run_bench(*args: str, output: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "tools.bench", *args, "--quick", "--output", str(output)],
                            cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr
    return output.read_text()


def test_quick_small_budget_writes_its_robustness_table(tmp_path):
    text = run_bench("--quality", "small", output=tmp_path / "small.md")
    assert "### Robustness of the small budget's models" in text
    for family in ("clean", *perturb.FAMILIES, *perturb.LENGTHS):
        assert f"| {family} | " in text, family
    assert "The same hearts at 10 s and at 60 s got different labels in " in text


def test_quick_mixture_trains_on_a_perturbed_source_under_a_candidate(tmp_path):
    text = run_bench("--quality", "mixture", "--train", "altsim/fs_250", "--set", "augment=false",
                     output=tmp_path / "mixture.md")
    assert "### augment=false, trained on altsim/fs_250" in text
    assert "| altsim/fs_250 (training source) |" in text and text.count("**(worst held-out)**") == 1
    for source in ("synth/clean", "synth/electrode_motion", "synth/bandpass_0.5_40", "altsim/clean"):
        assert f"| {source}" in text, source


@pytest.mark.parametrize("args, message", [
    (["--quality", "mixture", "--set", "epochs=2"], "'epochs' is not an option a candidate can set"),
    (["--quality", "mixture", "--train", "synth/seconds_60"], "unknown source"),
    (["--quality", "small", "--set", "augment=false"], "--train and --set go with --quality mixture"),
    (["--test-records", "5"], "--test-records goes with --quality"),
    (["--quality", "small", "--large-seed", "1"], "--large-seed goes with --quality large or both"),
])
def test_bench_quality_arguments_are_checked_before_any_work(args, message):
    result = subprocess.run([sys.executable, "-m", "tools.bench", *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr


def test_the_report_has_no_empty_small_budget_table_when_none_ran():
    text = transfer.to_markdown([], None, "a machine", "python -m tools.bench --quality large")
    assert "Small budget" not in text and "| seed |" not in text
    small = [{"synth": (0.8, 0.6)}, {"synth": (0.7, 0.5)}]
    assert "| mean | 0.750 | 0.550 |" in transfer.to_markdown(small, None, "a machine", "cmd")


def test_the_length_rules_agree_on_one_window_and_the_driver_rule_is_the_drivers():
    """tools.length_rules compares ways to combine a record's windows: on a record of one window they must all
    give that window, and its first rule must be the one the driver applies."""
    from team_code.inference.ensemble import combine_windows
    from tools import length_rules
    rng = np.random.default_rng(0)
    one = rng.dirichlet(np.ones(len(CLASSES)), size=1)
    three = rng.dirichlet(np.ones(len(CLASSES)), size=3)
    for rule in length_rules.RULES.values():
        np.testing.assert_allclose(rule(one.copy()), one[0])
    driver_rule = next(iter(length_rules.RULES.values()))
    np.testing.assert_array_equal(driver_rule(three), combine_windows(three))
    episodic = length_rules.RULES["max for PAC and PVC, min for Normal, mean for the rest"](three)
    assert episodic[CLASSES.index("PVC")] == three[:, CLASSES.index("PVC")].max()
    assert episodic[CLASSES.index("AF")] == pytest.approx(three[:, CLASSES.index("AF")].mean())


def test_the_large_budget_trains_with_the_seed_it_is_given(tmp_path, monkeypatch):
    """--large-seed reaches train_model.py: the same records, another training run (the spread between runs)."""
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        raise StopIteration  # stop after the training command: what it was given is what this test reads

    monkeypatch.setattr(transfer.synth, "generate_dataset", lambda *args, **kwargs: None)
    monkeypatch.setattr(transfer.subprocess, "run", fake_run)
    with pytest.raises(StopIteration):
        transfer.large_budget(tmp_path, {}, n=10, folds=2, epochs=1, seed=3)
    assert commands[0][1] == "train_model.py" and commands[0][commands[0].index("--seed") + 1] == "3"
