"""What the network is shown: augmentation that keeps the padding, standardised and masked input, every window
scored, rare classes weighted, folds that stop when validation stops improving, the measurement read fitted and
blended in by validation loss."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from team_code.data.augment import augment
from team_code.data.preprocess import FS, LENGTH, window_starts
from team_code.inference.ensemble import combine_windows, predict_records, predict_signals
from team_code.labels import CLASSES
from team_code.nn.beats import beat_views, recorded_length, standardise
from team_code.nn.networks import CRNN, build_model, measurement_size, measurement_vector
from team_code.training.train import (
    BLENDS,
    TrainOptions,
    categorical_cross_entropy,
    record_weights,
    validation_loss,
    with_defaults,
)


def _batch(rng, lengths):
    x = rng.normal(0, 0.3, (len(lengths), 12, LENGTH)).astype(np.float32)
    for k, n in enumerate(lengths):
        x[k, :, n:] = 0.0
    return x


def test_augmentation_changes_the_recording_but_never_the_padding():
    rng = np.random.default_rng(0)
    lengths = np.array([3000, 5000, LENGTH, 7777] * 8)
    x = _batch(rng, lengths)
    original = x.copy()
    augment(x, lengths, rng)
    assert np.isfinite(x).all()
    for k, n in enumerate(lengths):
        stretched = int(n * 1.07) + 1
        assert not x[k, :, min(LENGTH, stretched):].any(), "augmentation wrote into the zero padding"
    assert not np.allclose(x, original)


def test_electrode_motion_obeys_the_lead_equations_and_its_amplitude():
    from team_code.data.augment import _electrode_motion

    for seed in range(20):
        motion = _electrode_motion(LENGTH, np.random.default_rng(seed))
        np.testing.assert_allclose(motion[2], motion[1] - motion[0], atol=1e-5)  # III = II - I (Einthoven)
        np.testing.assert_allclose(motion[3] + motion[4] + motion[5], 0.0, atol=1e-5)  # aVR + aVL + aVF = 0
        assert 0.0 < np.abs(motion).max() <= 3 * 3.0 + 1e-4  # up to three excursions of at most 3 mV
        assert (np.abs(motion).max(axis=0) > 0).mean() < 0.5  # bursts, not a whole record


def test_sines_added_row_by_row_equal_the_batched_expression_to_the_bit():
    from team_code.data.augment import _add_sines

    rng = np.random.default_rng(9)
    time = np.arange(LENGTH, dtype=np.float32) / FS
    rows = np.array([0, 3, 4])
    hz, phase, amplitude = (rng.uniform(0.05, 60.0, (3, 12, 1)).astype(np.float32) for _ in range(3))
    extra = rng.normal(size=(5, 12, LENGTH)).astype(np.float32)
    expected = extra.copy()
    expected[rows] += amplitude * np.sin(2 * np.pi * hz * time[None, None, :] + phase)
    _add_sines(extra, rows, amplitude, hz, phase, time)
    np.testing.assert_array_equal(extra, expected)


def test_some_records_are_shown_as_a_six_lead_device_records_them():
    rng = np.random.default_rng(7)
    lengths = np.full(400, LENGTH)
    x = _batch(rng, lengths)
    augment(x, lengths, rng)
    chest_flat = ~x[:, 6:].any(axis=(1, 2)) & x[:, :6].any(axis=(1, 2))
    assert 0.02 < chest_flat.mean() < 0.09  # CHEST_FLAT_PROBABILITY, 5 %


def test_augmentation_is_reproducible_from_its_generator():
    lengths = np.array([4000, LENGTH])
    a, b = _batch(np.random.default_rng(1), lengths), _batch(np.random.default_rng(1), lengths)
    augment(a, lengths, np.random.default_rng(5))
    augment(b, lengths, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_recorded_length_finds_the_padding():
    x = torch.from_numpy(_batch(np.random.default_rng(2), [1234, LENGTH, 1]))
    assert recorded_length(x).tolist() == [1234, LENGTH, 1]


def test_standardising_removes_gain_and_offset_and_keeps_padding_zero():
    x = torch.from_numpy(_batch(np.random.default_rng(3), [6000, LENGTH]))
    length = recorded_length(x)
    changed = x.clone()
    changed[0, :, :6000] = changed[0, :, :6000] * 3.7 + 0.8  # another amplifier and a baseline offset
    a, b = standardise(x, length), standardise(changed, length)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert not a[0, :, 6000:].any()


def test_crnn_output_ignores_what_lies_beyond_the_record_and_the_gain():
    torch.manual_seed(0)
    model = CRNN().eval()
    x = torch.from_numpy(_batch(np.random.default_rng(4), [5000]))
    louder = x * 2.5
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(louder), atol=1e-4, rtol=1e-4)


def test_every_window_counts_and_normal_needs_every_window():
    index = {c: k for k, c in enumerate(CLASSES)}
    windows = np.full((3, len(CLASSES)), 0.01, dtype=np.float32)
    windows[:, index["Normal"]] = [0.9, 0.2, 0.8]
    windows[1, index["PVC"]] = 0.7
    combined = combine_windows(windows)
    assert combined[index["PVC"]] == pytest.approx(0.7)
    assert combined[index["Normal"]] == pytest.approx(0.2)


class _SpikeDetector(torch.nn.Module):
    """Calls a window PVC when it holds a 5-mV sample, else Normal: a stand-in network with a known answer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], len(CLASSES))
        spike = (x.abs() > 4).flatten(1).any(dim=1)
        logits[:, CLASSES.index("PVC")] = spike.float() * 10
        logits[:, CLASSES.index("Normal")] = (~spike).float() * 10
        return logits


def test_a_pvc_45_seconds_into_a_record_is_scored():
    record = np.zeros((12, 60 * FS), dtype=np.float32)
    record[:, :] = 0.1
    late = record.copy()
    late[:, 45 * FS] = 5.0
    probabilities = predict_signals([_SpikeDetector()], [record, late], torch.device("cpu"))
    pvc, normal = CLASSES.index("PVC"), CLASSES.index("Normal")
    assert probabilities[0, normal] > 0.99 and probabilities[0, pvc] < 0.01
    assert probabilities[1, pvc] > 0.99 and probabilities[1, normal] < 0.01


def test_rare_classes_weigh_more():
    labels = np.zeros((100, len(CLASSES)), dtype=np.float32)
    labels[:90, 0] = 1   # common
    labels[90:, 1] = 1   # rare
    weights = record_weights(labels)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[95] > weights[0]


def test_defaults_come_from_the_architecture_and_explicit_options_win():
    crnn, paper = with_defaults(TrainOptions(arch="crnn")), with_defaults(TrainOptions(arch="paper"))
    assert crnn.augment and crnn.lr_schedule == "onecycle" and crnn.patience > 0
    assert not paper.augment and paper.lr_schedule == "constant" and paper.patience == 0
    assert paper.learning_rate == 1e-3
    assert with_defaults(TrainOptions(arch="crnn", augment=False, patience=0)).patience == 0


@pytest.mark.slow
def test_a_fold_stops_after_patience_epochs_without_a_better_validation_loss(synth_train_dir, tmp_path, monkeypatch):
    from team_code.data.cache import CachedRecords, build_cache
    from team_code.data.folds import stratified_folds
    from team_code.training import train

    data = CachedRecords.open(build_cache(synth_train_dir, tmp_path / "cache"))
    losses = iter([3.0, 1.0, 2.0, 1.5])
    validate = train._validate

    def fake_validate(model, data, val, batch_size, device, loss="softmax"):
        return replace(validate(model, data, val, batch_size, device, loss), loss=next(losses))

    monkeypatch.setattr(train, "_validate", fake_validate)
    monkeypatch.setattr(train.torch, "get_num_threads", lambda: 1)
    folds = stratified_folds(data.labels, 2, seed=0)
    options = TrainOptions(folds=2, epochs=6, patience=2, augment=False)
    result = train.train_fold(data, folds, fold=0, options=options, device=torch.device("cpu"))
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]  # epochs 3 and 4 did not beat epoch 2
    assert result.best_epoch == 2
    assert not list(tmp_path.glob("fold_*"))  # without model_dir nothing is checkpointed


def test_the_measurement_read_learns_a_rule_and_is_silent_at_blend_zero():
    torch.manual_seed(0)
    model = CRNN().eval()
    rng = np.random.default_rng(5)
    measurements = torch.from_numpy(rng.normal(3.0, 0.01, (300, measurement_size()))).float()  # tiny spread
    label = torch.from_numpy(rng.integers(0, len(CLASSES), 300))
    measurements[torch.arange(300), label] += 0.02  # the class is the measurement that stands out, barely
    labels = torch.nn.functional.one_hot(label, len(CLASSES)).float()
    model.fit_measurement_read(measurements, labels, torch.ones(300), categorical_cross_entropy)
    with torch.no_grad():
        predicted = model.read(measurements).argmax(dim=1)
    assert (predicted == label).float().mean() > 0.95  # standardised, so the tiny spread is no obstacle

    x = torch.from_numpy(_batch(np.random.default_rng(6), [8000, 10000]))
    with torch.no_grad():
        silent = model(x)
        model.blend.fill_(1.0)
        blended = model(x)
        read = model.read(measurement_vector(beat_views(x)))
    torch.testing.assert_close(blended, silent + read, atol=1e-4, rtol=1e-4)
    assert (read.abs() > 1e-3).any()  # so the equality above is not 0 == 0


def test_the_read_takes_an_unrecorded_lead_as_the_training_mean():
    """A six-lead record: its chest leads are NaN measurements, read as the mean, not as 0 mV far from any V1."""
    torch.manual_seed(0)
    model = CRNN().eval()
    x = torch.from_numpy(_batch(np.random.default_rng(7), [LENGTH] * 40))
    measurements = measurement_vector(beat_views(x))
    labels = torch.nn.functional.one_hot(torch.arange(40) % len(CLASSES), len(CLASSES)).float()
    model.fit_measurement_read(measurements, labels, torch.ones(40), categorical_cross_entropy)
    six_lead = x.clone()
    six_lead[:, 6:] = 0.0
    views = beat_views(six_lead)
    assert views.leads[:, :6].all() and not views.leads[:, 6:].any()
    unrecorded = measurement_vector(views)
    chest = torch.isnan(unrecorded)
    assert chest.any(dim=1).all() and not chest[:, :8].any()  # the RR measurements are all there
    imputed = torch.where(chest, model.measurement_mean.expand_as(unrecorded), unrecorded)
    with torch.no_grad():
        torch.testing.assert_close(model.read(unrecorded), model.read(imputed))
        assert torch.isfinite(model(six_lead)).all()
    # with a NaN among the fitted measurements, mean and scale come from the recorded values
    measurements[0, -1] = float("nan")
    model.fit_measurement_read(measurements, labels, torch.ones(40), categorical_cross_entropy)
    assert model.measurement_mean[-1] == pytest.approx(measurements[1:, -1].mean().item(), abs=1e-5)
    assert torch.isfinite(model.measurement_read.weight).all()


@pytest.mark.slow
def test_the_blend_is_the_one_with_the_lowest_validation_loss_and_travels_in_the_weights(synth_train_dir,
                                                                                        tmp_path, monkeypatch):
    from team_code.data.cache import CachedRecords, build_cache
    from team_code.data.folds import stratified_folds
    from team_code.training import train

    data = CachedRecords.open(build_cache(synth_train_dir, tmp_path / "cache"))
    folds = stratified_folds(data.labels, 2, seed=0)
    validate = train._validate
    seen = []

    def recording_blend(model, data, val, batch_size, device, loss="softmax"):
        seen.append(float(model.blend))
        return validate(model, data, val, batch_size, device, loss)

    monkeypatch.setattr(train, "_validate", recording_blend)
    options = TrainOptions(folds=2, epochs=2, augment=False, patience=0)
    result = train.train_fold(data, folds, fold=0, options=options, device=torch.device("cpu"))
    assert seen == [0.0, 0.0]  # the network trains with the read off; the blends need no further pass
    model = build_model("crnn").eval()
    model.load_state_dict(result.state_dict)
    assert float(model.blend) == result.measurement_blend
    # The weight chosen from the stored logits is the one six full passes of the driver's function would choose
    # (ties keep the smaller weight), and the fold's loss is that of the probabilities it saves.
    signals = [signal for _, signal in data.signals(folds[0])]
    labels = data.labels[folds[0]]
    losses = {}
    for blend in BLENDS:
        model.blend.fill_(blend)
        losses[blend] = validation_loss(labels, predict_signals([model], signals, torch.device("cpu")), "softmax")
    assert result.measurement_blend == min(BLENDS, key=lambda blend: (round(losses[blend], 6), blend))
    assert result.best_val_cross_entropy == pytest.approx(losses[result.measurement_blend], abs=1e-5)
    model.blend.fill_(result.measurement_blend)
    driver = predict_records([model], signals, torch.device("cpu"))
    np.testing.assert_allclose(driver.combined, result.probabilities, atol=1e-6)  # the saved model's
    np.testing.assert_allclose(driver.means, result.window_means, atol=1e-6)  # and the fallback the driver reads
    assert len(set(round(v, 4) for v in losses.values())) > 1  # the blends really differ, so the choice means something


def test_validation_hands_on_the_window_means_of_long_records(tmp_path):
    """Records of 25-45 s have two or three windows: validation keeps their mean beside the combined vector, the
    same numbers the driver's predict_records gives, so thresholds are tuned under the driver's fallback."""
    from simulators.synth import generate_dataset
    from team_code.data.cache import CachedRecords, build_cache
    from team_code.training import train

    generate_dataset(tmp_path / "long", n=6, seed=5, min_seconds=25, max_seconds=45)
    data = CachedRecords.open(build_cache(tmp_path / "long", tmp_path / "cache"))
    torch.manual_seed(0)
    model = build_model("crnn").eval()
    val = np.arange(len(data.names))
    validation = train._validate(model, data, val, 4, torch.device("cpu"))
    signals = [signal for _, signal in data.signals(val)]
    assert all(len(window_starts(s.shape[1])) > 1 for s in signals)
    driver = predict_records([model], signals, torch.device("cpu"))
    np.testing.assert_allclose(validation.probabilities.combined, driver.combined, atol=1e-6)
    np.testing.assert_allclose(validation.probabilities.means, driver.means, atol=1e-6)
    assert not np.allclose(driver.means, driver.combined)


def test_auto_precision_takes_bf16_only_where_the_hardware_computes_it(monkeypatch):
    from team_code.training.train import training_precision

    assert training_precision("fp32", torch.device("cuda")) == "fp32"
    assert training_precision("bf16", torch.device("cpu")) == "bf16"
    assert training_precision("auto", torch.device("cuda")) == "bf16"
    for amx, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        assert training_precision("auto", torch.device("cpu")) == expected
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")  # a torch without the private probe
    assert training_precision("auto", torch.device("cpu")) == "fp32"


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_training_step_runs_in_the_chosen_precision_and_validation_in_fp32(synth_train_dir, tmp_path,
                                                                               monkeypatch, precision):
    from team_code.data.cache import CachedRecords, build_cache
    from team_code.data.folds import stratified_folds
    from team_code.training import train

    data = CachedRecords.open(build_cache(synth_train_dir, tmp_path / "cache"))
    seen = set()
    build = train.build_model

    def recording_model(*args, **kwargs):
        model = build(*args, **kwargs)
        model.dense[-1].register_forward_hook(lambda module, _, out: seen.add((module.training, out.dtype)))
        return model

    monkeypatch.setattr(train, "build_model", recording_model)
    folds = stratified_folds(data.labels, 2, seed=0)
    options = TrainOptions(folds=2, epochs=1, augment=False, precision=precision)
    result = train.train_fold(data, folds, fold=0, options=options, device=torch.device("cpu"))
    step = torch.bfloat16 if precision == "bf16" else torch.float32
    assert seen == {(True, step), (False, torch.float32)}
    assert np.isfinite(result.history[0]["train_loss"]) and np.isfinite(result.best_val_cross_entropy)
