"""The beat-synchronous views: QRS location, RR measurements and the beat templates the network reads."""
from pathlib import Path

import numpy as np
import pytest
import torch

from simulators import synth
from team_code.data.preprocess import prepare_signal, window
from team_code.io.records import load_record, record_names
from team_code.nn import beats
from team_code.nn.beats import recorded_length, standardise

SAMPLES = 10000


def _spikes(positions, samples=SAMPLES, length=None, leads=12, odd=None, width=12.0):
    """A window of narrow QRS-like bumps at `positions` (samples), zero after `length`; `odd` = (index,
    scale) makes one beat different (taller and wider, as an ectopic beat)."""
    t = np.arange(samples)
    x = np.zeros((leads, samples), dtype=np.float32)
    for k, p in enumerate(positions):
        scale, w = (odd[1], 2 * width) if odd is not None and odd[0] == k else (1.0, width)
        x += (scale * np.exp(-0.5 * ((t - p) / w) ** 2)).astype(np.float32)[None, :]
    if length is not None:
        x[:, length:] = 0.0
    return torch.from_numpy(x)[None]


def _views(x):
    length = recorded_length(x)
    z = standardise(x, length)
    positions, valid = beats.locate_beats(z, length)
    return z, positions, valid


def test_locates_every_beat_at_its_peak():
    planted = np.arange(400, 9600, 430)
    _, positions, valid = _views(_spikes(planted))
    found = positions[0][valid[0]].numpy()
    assert len(found) == len(planted)
    assert np.abs(found - planted).max() <= 3


def test_no_beat_in_the_padding_and_none_in_silence():
    planted = np.arange(300, 9600, 500)
    _, positions, valid = _views(_spikes(planted, length=5000))
    found = positions[0][valid[0]].numpy()
    assert len(found) == int((planted < 5000 - 30).sum())
    assert found.max() < 5000
    z, positions, valid = _views(torch.zeros(1, 12, SAMPLES))  # the explanations' all-zero baseline
    assert not valid.any()
    assert torch.count_nonzero(beats.rr_features(positions, valid)) == 0
    assert torch.count_nonzero(beats.beat_templates(z, positions, valid, recorded_length(z))) == 0


def test_rr_features_measure_a_premature_beat_and_its_pause():
    regular = np.arange(500, 9600, 500)  # 1.0 s
    early = regular.astype(float)
    early[8] -= 200  # 0.6 of the cycle, then a compensatory pause of 1.4
    features = {}
    for name, planted in (("regular", regular), ("early", early)):
        _, positions, valid = _views(_spikes(planted))
        features[name] = beats.rr_features(positions, valid)[0].numpy()
    log_mean, cv, rmssd, shortest, longest, premature, pause, irregular = features["regular"]
    assert log_mean == pytest.approx(0.0, abs=0.01)
    assert cv < 0.01 and rmssd < 0.01 and irregular == 0
    assert premature == pytest.approx(1.0, abs=0.01) and pause == pytest.approx(1.0, abs=0.01)
    log_mean, cv, rmssd, shortest, longest, premature, pause, irregular = features["early"]
    assert shortest == pytest.approx(0.6, abs=0.01) and longest == pytest.approx(1.4, abs=0.01)
    assert premature == pytest.approx(0.6, abs=0.01)  # 0.6 s after a 1.0-s interval
    assert pause == pytest.approx(1.4 / 0.6, abs=0.02)
    assert irregular > 0


def test_templates_are_the_median_the_odd_and_the_earliest_beat():
    planted = np.arange(500, 9600, 500).astype(float)
    planted[6] -= 280  # 220 samples after the beat before it: inside the template's 250 before the QRS
    z, positions, valid = _views(_spikes(planted, odd=(12, 1.8)))
    median, odd, early = beats.beat_templates(z, positions, valid, recorded_length(z))[0].reshape(3, 12, -1).numpy()
    centre = beats.BEFORE
    assert np.argmax(median[0]) == centre  # aligned on the QRS peak
    # The median is the ordinary beat: its peak is the common height, not the odd beat's.
    ordinary = z[0, 0, int(planted[3])].item()
    assert median[0, centre] == pytest.approx(ordinary, rel=0.02)
    assert odd[0, centre] > 1.5 * median[0, centre]
    # The most premature beat's window shows the previous QRS 220 samples before it; the median's does not.
    assert early[0, centre - 220] > 0.5 * early[0, centre]
    assert median[0, centre - 220] < 0.05 * median[0, centre]


@pytest.mark.parametrize("label", ["Normal", "AF", "LBBB", "RBBB", "PVC", "I-AVB"])
def test_counts_the_beats_of_generated_records(label):
    """On generated records with noise, filtering and varied rates the detector finds every QRS in most of
    them (the count of ventricular beats from the record's mean RR, within one)."""
    hits = 0
    for seed in range(8):
        signal, meta = synth.generate_record(np.random.default_rng([seed, 7]), [label], 10.0)
        x = torch.from_numpy(window(prepare_signal(signal, meta["fs"]), 0))[None].float()
        _, positions, valid = _views(x)
        found = positions[0][valid[0]].numpy() / 500.0
        expected = 10.0 * meta["heart_rate"] / 60.0
        hits += abs(len(found) - expected) <= 1.5
    assert hits >= 7


REAL = Path(__file__).resolve().parents[1].parent / "shared/data/real-samples/cinc2021"


def _real_signals():
    if not REAL.is_dir():
        pytest.skip(f"the real sample records are not at {REAL} (../shared beside the checkout)")
    return [prepare_signal(record.signal, record.fs)
            for record in (load_record(REAL / name) for name in record_names(REAL))]


def _located(signals):
    views = beats.beat_views(torch.from_numpy(np.stack([window(s) for s in signals])))
    positions, valid = beats.locate_beats(views.x, views.length)
    return [p[v].numpy() for p, v in zip(positions, valid)]


def test_a_record_cut_short_has_the_beats_of_the_whole_record_and_no_false_one_at_the_cut():
    """Real 10-s records cut at 8-10 s: the same beats (within 2 samples) up to 0.5 s before the cut, none in
    the last 120 ms (where the step into the zero padding used to make one), and hardly ever one the whole record
    does not have near the cut (it was 27 in 1,000 cuts)."""
    signals = _real_signals()
    rng = np.random.default_rng(0)
    cuts = rng.integers(4000, 5000, (len(signals), 4))
    whole = _located(signals)
    added = 0
    for k, signal in enumerate(signals):
        assert len(whole[k]) == 0 or whole[k][-1] < signal.shape[1] - 2 * beats.SMOOTH
        for cut, found in zip(cuts[k], _located([signal[:, :c] for c in cuts[k]])):
            before, full = found[found < cut - 250], whole[k][whole[k] < cut - 250]
            assert len(before) == len(full) and np.abs(before - full).max(initial=0) <= 2, (k, cut)
            assert len(found) == 0 or found[-1] < cut - 2 * beats.SMOOTH
            near = whole[k][(whole[k] >= cut - 250) & (whole[k] < cut)]
            added += len(found[found >= cut - 250]) > len(near)
    assert added <= 0.01 * cuts.size


def test_no_view_reads_the_padding():
    """Beats whose span runs into the padding are left out of every template: with the padding made NaN, every
    view of real records cut at 7-10 s is still finite."""
    signals = _real_signals()
    rng = np.random.default_rng(1)
    cut = [signal[:, :int(rng.integers(3500, 5000))] for signal in signals]
    x = torch.from_numpy(np.stack([window(s) for s in cut]))
    length = beats.recorded_length(x)
    z = beats.standardise(x, length)
    positions, valid = beats.locate_beats(z, length)
    poisoned = z.clone()
    poisoned[torch.arange(x.shape[-1])[None, None, :].expand_as(z) >= length[:, None, None]] = float("nan")
    templates = beats.beat_templates(poisoned, positions, valid, length)
    assert torch.isfinite(templates).all()
    assert torch.equal(templates, beats.beat_templates(z, positions, valid, length))


def test_views_with_a_gradient_are_the_views_without_one():
    """standardise scales in place unless a gradient is asked for (integrated gradients): both ways give the same
    values to the bit, on records with a flat lead, a short one and an all-zero one, and the gradient reaches the
    input through the templates (of the whole records: an all-zero one has no scale to differentiate)."""
    x = torch.from_numpy(np.stack([window(s) for s in _real_signals()[:6]]))
    x[1, 3] = 0.0
    x[2, :, 4000:] = 0.0
    x[3] = 0.0
    plain = beats.beat_views(x.clone())
    tracked = x.clone().requires_grad_(True)
    views = beats.beat_views(tracked)
    for name, a, b in zip(plain._fields, plain, views):
        assert torch.equal(a, b.detach()), name
    views.templates.sum().backward()
    whole = tracked.grad[[0, 4, 5]]
    assert torch.isfinite(whole).all() and whole.abs().sum() > 0


def test_a_window_shorter_than_one_beat_has_no_beat_and_zero_templates():
    """A window shorter than a beat's span (BEFORE + AFTER samples) has views all the same, with empty templates."""
    x = _spikes([100, 300], samples=beats.BEFORE + 100)
    views = beats.beat_views(x)
    assert views.templates.shape == (1, 3 * 12, beats.BEFORE + beats.AFTER)
    assert torch.equal(views.templates, torch.zeros_like(views.templates))


def test_flat_leads_leave_the_others_at_their_scale_and_the_output_graded():
    """k flat leads (k = 0..11, a disconnected electrode or a record of fewer leads): the live leads keep
    their scale (the median over live leads), and the network's outputs stay finite and graded."""
    from team_code.nn.networks import CRNN

    signal, meta = synth.generate_record(np.random.default_rng(3), ["Normal"], 10.0)
    x = torch.from_numpy(window(prepare_signal(signal, meta["fs"])))
    batch = x.repeat(12, 1, 1)
    for k in range(12):
        batch[k, 12 - k:] = 0.0  # the last k leads flat
    z = beats.standardise(batch, beats.recorded_length(batch))
    live = z[0].std(dim=1)
    for k in range(12):
        ratio = z[k, :12 - k].std(dim=1) / live[:12 - k]
        assert ((ratio > 0.3) & (ratio < 3)).all(), k
        assert not z[k, 12 - k:].any()
    torch.manual_seed(0)
    with torch.no_grad():
        probabilities = torch.softmax(CRNN().eval()(batch), dim=1)
    assert torch.isfinite(probabilities).all()
    assert (probabilities.max(dim=1).values < 0.99).all()


# The fast forms of three steps of the views against the torch operations they replace: the same values, bit for bit.

def test_high_level_is_nanquantile_bit_for_bit():
    rng = np.random.default_rng(0)
    for samples in (7, 500, 10_000):
        energy = torch.from_numpy(rng.gamma(0.5, size=(40, samples)))
        energy[:10] = energy[:10].round()  # ties
        length = torch.from_numpy(rng.integers(1, samples + 1, 40))
        length[0], length[1] = 1, samples
        recorded = torch.arange(samples)[None, :] < length[:, None]
        expected = torch.nanquantile(torch.where(recorded, energy, torch.nan), beats.HIGH_LEVEL, dim=1)
        assert torch.equal(beats.high_level(energy, length), expected)


def test_running_max_is_max_pool1d_bit_for_bit():
    rng = np.random.default_rng(1)
    for samples, radius in ((10_000, beats.REFRACTORY), (50, beats.REFRACTORY), (1000, 1), (1000, 7), (33, 16)):
        x = torch.from_numpy(rng.normal(size=(5, samples)).round(1))
        expected = torch.nn.functional.max_pool1d(x[:, None], 2 * radius + 1, stride=1, padding=radius)[:, 0]
        assert torch.equal(beats.running_max(x, radius), expected), (samples, radius)


def test_median_of_chosen_is_nanmedian_of_the_present_beats():
    rng = np.random.default_rng(2)
    chosen = torch.from_numpy(rng.integers(-3, 4, (200, beats.MEDIAN_BEATS, 2, 5)).astype(np.float32))  # ties
    count = torch.from_numpy(rng.integers(0, 12, (200, 1)))
    missing = (torch.arange(beats.MEDIAN_BEATS)[None, :] >= count)[:, :, None, None]
    expected = torch.nanmedian(torch.where(missing, torch.nan, chosen), dim=1).values.nan_to_num(nan=0.0)
    assert torch.equal(beats.median_of_chosen(chosen, count), expected)
    # the 0-1 principle: a network that selects the median of every 0/1 input selects it of every input
    bits = torch.tensor([[(i >> b) & 1 for b in range(9)] for i in range(512)], dtype=torch.float32)
    got = beats.median_of_chosen(bits[:, :, None, None], torch.full((512, 1), 9))[:, 0, 0]
    assert torch.equal(got, (bits.sum(dim=1) >= 5).float())
