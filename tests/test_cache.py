"""The HDF5 cache: same numbers as preprocessing a record directly, reused when nothing changed, rebuilt when it did."""
import os
import shutil

import numpy as np

from team_code.cache import CachedRecords, build_cache
from team_code.preprocess import LENGTH, prepare_signal, window
from team_code.records import load_record
from team_code.synth import generate_dataset


def test_batches_equal_direct_preprocessing(synth_train_dir, tmp_path):
    data = CachedRecords.open(build_cache(synth_train_dir, tmp_path))
    assert len(data.names) == 30
    order = np.random.default_rng(0).permutation(30)
    seen = []
    for indices, x, y in data.batches(order, batch_size=7):
        assert x.shape == (len(indices), 12, LENGTH) and x.dtype.is_floating_point
        for k, i in enumerate(indices):
            record = load_record(synth_train_dir / data.names[i])
            expected = window(prepare_signal(record.signal, record.fs), 0)
            np.testing.assert_array_equal(x[k].numpy(), expected)  # the driver's input, to the bit
            assert y[k].numpy().tolist() == data.labels[i].tolist()
        seen.extend(indices.tolist())
    assert seen == order.tolist()


def test_whole_records_and_random_windows(tmp_path):
    generate_dataset(tmp_path / "data", n=4, seed=8, min_seconds=45, max_seconds=50)
    data = CachedRecords.open(build_cache(tmp_path / "data", tmp_path / "cache"))
    wholes = dict(data.signals(np.arange(4)))
    for i, whole in wholes.items():
        record = load_record(tmp_path / "data" / data.names[i])
        np.testing.assert_array_equal(whole, prepare_signal(record.signal, record.fs))
        assert whole.shape[1] == data.lengths[i] > LENGTH
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(3):
        for indices, x, _ in data.batches(np.arange(4), batch_size=4, rng=rng):
            for k, i in enumerate(indices):
                whole = wholes[int(i)]
                # the window is some 20-s stretch of the record, not always its start
                matches = [s for s in range(whole.shape[1] - LENGTH + 1) if np.array_equal(whole[0, s:s + 50],
                                                                                          x[k, 0, :50].numpy())]
                assert matches
                start = matches[0]
                np.testing.assert_array_equal(x[k].numpy(), whole[:, start:start + LENGTH])
                starts.add(start)
    assert len(starts) > 4


def test_reused_when_unchanged_rebuilt_when_data_change(synth_train_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synth_train_dir, data)
    first = build_cache(data, tmp_path / "cache")
    built_at = first.stat().st_mtime_ns
    assert build_cache(data, tmp_path / "cache") == first
    assert first.stat().st_mtime_ns == built_at
    victim = sorted(data.glob("*.hea"))[0]
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
    second = build_cache(data, tmp_path / "cache")
    assert second != first
    (data / f"{victim.stem}.mat").unlink()
    (data / f"{victim.stem}.hea").unlink()
    third = build_cache(data, tmp_path / "cache")
    assert third not in (first, second)
    assert len(CachedRecords.open(third).names) == 29


def test_stopping_early_does_not_hang(synth_train_dir, tmp_path):
    data = CachedRecords.open(build_cache(synth_train_dir, tmp_path))
    for _ in data.batches(np.arange(30), batch_size=2):
        break
    assert next(iter(data.batches(np.arange(4), batch_size=4)))[1].shape[0] == 4
