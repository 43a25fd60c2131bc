"""The HDF5 cache: same numbers as preprocessing a record directly, reused when nothing changed, rebuilt when it did."""
import os
import shutil

import numpy as np

from simulators.synth import generate_dataset
from team_code.data.cache import CachedRecords, build_cache
from team_code.data.preprocess import LENGTH, prepare_signal, window
from team_code.io.records import load_record


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


def _long_records(directory, count: int, fs: float, seconds: float) -> None:
    """Records of the release's odd rates and lengths (INCART 257 Hz, PTB 1000 Hz), cheap to write."""
    from team_code.io.records import write_record

    t = np.arange(int(seconds * fs)) / fs
    for i in range(count):
        signal = 0.5 * np.sin(2 * np.pi * (1.0 + 0.1 * i) * t)[None, :] * np.linspace(0.5, 1.5, 12)[:, None]
        write_record(directory, f"L{fs:g}_{i:03d}", signal, fs=fs, labels=["AF"])


def test_odd_rates_are_cached_whole_at_500_hz_and_memory_does_not_grow_with_the_records(tmp_path):
    import tracemalloc

    peaks = {}
    for count in (4, 12):
        data = tmp_path / f"data{count}"
        data.mkdir()
        _long_records(data, count // 2, 257, 150)
        _long_records(data, count // 2, 1000, 60)
        tracemalloc.start()
        path = build_cache(data, tmp_path / "cache", workers=1)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        cached = CachedRecords.open(path)
        assert sorted(cached.lengths.tolist()) == [30000] * (count // 2) + [75000] * (count // 2)
        wholes = dict(cached.signals(np.arange(len(cached.names))))
        for i, name in enumerate(cached.names):
            record = load_record(data / name)
            np.testing.assert_array_equal(wholes[i], prepare_signal(record.signal, record.fs))
    # Records are read a bounded window ahead and written one by one: three times the records, not three times the
    # memory (a cache that kept its records until the end would need 3x).
    assert peaks[12] < 1.25 * peaks[4], peaks
