"""Parse and preprocess every training record once into an HDF5 file that all folds and epochs stream from.

The file name is a hash of the record list (names, sizes, mtimes) and the preprocessing settings, so a changed
data directory or a changed `prepare_signal` gets a fresh cache, and an unchanged one is reused (also on resume).
Each record is stored whole (up to preprocess.MAX_SECONDS) as int16 microvolts at 500 Hz, exactly what
`prepare_signal` gives the driver, in its own one-chunk dataset, and read back one batch at a time by raw chunk
reads, so memory stays flat however many records there are and reading is far faster than the network (h5py's
fancy indexing is not). Training batches take one 20-s window per record (a random one when the record is
longer); validation reads whole records and scores every window, as the driver does.
"""
from __future__ import annotations

import hashlib
import json
import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from team_code import class_sets, log
from team_code.class_sets import ClassSet
from team_code.data import preprocess
from team_code.data.workers import cpu_cores, read_ahead
from team_code.io.atomic import atomic_path
from team_code.io.records import RecordError, find_records, load_record

CACHE_VERSION = 3
NO_LABEL = "no label among"  # how a skip reason for a record without a label of the class set reads

logger = logging.getLogger(__name__)


class CacheError(RuntimeError):
    """The cache file exists but cannot be read (damaged, truncated, not HDF5); the message names it."""


def _unreadable(path: Path, error: BaseException) -> CacheError:
    reason = f"{type(error).__name__}: {error}".splitlines()[0]
    return CacheError(f"{path}: cannot read the training cache ({reason}); delete it and rerun to rebuild it")


def training_records(data_dir: str | Path) -> dict[str, Path]:
    """name: base path of every record under data_dir, sub-folders included (records.find_records; RecordError for
    two records of one name); load_record reports which half of a record is missing."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: training directory not found")
    return find_records(data_dir)


def cache_key(data_dir: str | Path, records: dict[str, Path], class_set: ClassSet | None = None) -> str:
    """Hash of the file list (paths below data_dir), sizes, mtimes, preprocessing settings and the class set."""
    class_set = class_set or class_sets.get(class_sets.DEFAULT)
    digest = hashlib.sha256()
    settings = [CACHE_VERSION, preprocess.VERSION, preprocess.FS, preprocess.LENGTH, preprocess.MAX_SECONDS,
                list(class_set.classes)]
    if class_set.name != class_sets.DEFAULT:  # keeps the key of a cpsc2018 cache what it was before class sets
        settings.append(sorted(class_set.token_class.items()))
    digest.update(json.dumps(settings).encode())
    for base in records.values():
        relative = base.relative_to(data_dir).as_posix()  # the bare name in a flat folder
        for suffix in (".hea", ".mat"):
            path = base.parent / f"{base.name}{suffix}"
            try:
                st = path.stat()
                digest.update(f"{relative}{suffix}:{st.st_size}:{st.st_mtime_ns};".encode())
            except FileNotFoundError:
                digest.update(f"{relative}{suffix}:missing;".encode())
    return digest.hexdigest()[:20]


def cache_file(data_dir: str | Path, cache_dir: str | Path, records: dict[str, Path],
               class_set: ClassSet | None = None) -> Path:
    """Where build_cache keeps the cache of these records (training_records(data_dir)) in cache_dir."""
    return Path(cache_dir) / f"records-{cache_key(data_dir, records, class_set)}.h5"


def _load_one(path: Path, class_set: ClassSet) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """(signal, label vector, None) for a usable record, else (None, None, reason)."""
    try:
        record = load_record(path)
    except RecordError as error:
        return None, None, str(error)
    found = class_set.labels_of(record.dx)
    if not found:
        return None, None, f"{path}: {NO_LABEL} {class_set.description} (Dx: {','.join(record.dx) or 'none'})"
    return preprocess.prepare_counts(record.signal, record.fs), class_set.vector(found), None


def build_cache(data_dir: str | Path, cache_dir: str | Path, workers: int | None = None,
                class_set: ClassSet | None = None) -> Path:
    """Return the path of an up-to-date cache for data_dir (and its sub-folders) labelled with `class_set`
    (default cpsc2018), building it (atomically) when needed.

    Unreadable and unlabeled records are skipped with one warning each; the list is kept in the cache so a reused
    cache reports them again.
    """
    data_dir = Path(data_dir)
    class_set = class_set or class_sets.get(class_sets.DEFAULT)
    records = training_records(data_dir)
    names = list(records)
    path = cache_file(data_dir, cache_dir, records, class_set)
    if path.exists():
        try:
            with h5py.File(path, "r") as f:
                skipped = json.loads(f.attrs["skipped"])
        except (OSError, KeyError, ValueError) as error:
            raise _unreadable(path, error) from None
        logger.debug(f"reusing the cache {path} ({len(names)} record files, {len(skipped)} skipped)")
        for reason in skipped:
            logger.warning(f"skipped {reason}")
        _summarise(len(names), skipped, class_set)
        return path
    logger.debug(f"building the cache {path} from {len(names)} record names in {data_dir}")
    workers = workers or min(4, cpu_cores())
    skipped = []
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        signals = f.create_group("signals")
        lengths = np.zeros(len(names), dtype=np.int64)
        labels = np.zeros((len(names), len(class_set.classes)), dtype=np.uint8)
        kept: list[str] = []
        # One task per record and a bounded window of them in flight: results wait in memory only until written.
        with ProcessPoolExecutor(workers) if workers > 1 and len(names) > 64 else ThreadPoolExecutor(1) as pool:
            ahead = read_ahead(pool, partial(_load_one, class_set=class_set), list(records.values()),
                               window=4 * workers)
            for record_path, future in tqdm(ahead, total=len(names), desc="caching records", unit="rec",
                                            disable=not log.progress_bars(), file=sys.stderr):
                signal, label, reason = future.result()
                if reason is not None:
                    skipped.append(reason)
                    logger.warning(f"skipped {reason}")
                    continue
                # One chunk holding the whole record, stored raw: read back without any HDF5 selection.
                signals.create_dataset(str(len(kept)), data=signal, chunks=signal.shape)
                lengths[len(kept)] = signal.shape[1]
                labels[len(kept)] = label
                kept.append(record_path.name)
        f.create_dataset("lengths", data=lengths[: len(kept)])
        f.create_dataset("labels", data=labels[: len(kept)])
        f.create_dataset("names", data=np.array(kept, dtype=object), dtype=h5py.string_dtype())
        f.attrs["count"] = len(kept)
        f.attrs["skipped"] = json.dumps(skipped)
        f.attrs["class_set"] = class_set.name
    _summarise(len(names), skipped, class_set)
    return path


def _summarise(total: int, skipped: list[str], class_set: ClassSet) -> None:
    if skipped:
        unlabelled = sum(f": {NO_LABEL} " in reason for reason in skipped)
        logger.warning(f"skipped {len(skipped)} of {total} records ({len(skipped) - unlabelled} unreadable, "
                       f"{unlabelled} without a label among {class_set.description}); training on "
                       f"{total - len(skipped)}")


@dataclass
class CachedRecords:
    """Read access to a built cache: names, labels and lengths in memory, signals streamed per batch."""

    path: Path
    names: list[str]
    labels: np.ndarray  # (n, classes) float32
    lengths: np.ndarray  # (n,) samples at 500 Hz
    class_set: ClassSet  # what the label columns are

    @classmethod
    def open(cls, path: str | Path) -> CachedRecords:
        try:
            with h5py.File(path, "r") as f:
                count = int(f.attrs["count"])
                names = [n.decode() if isinstance(n, bytes) else n for n in f["names"][:count]]
                labels = f["labels"][:count].astype(np.float32)
                lengths = f["lengths"][:count].astype(np.int64)
                class_set = class_sets.get(str(f.attrs.get("class_set", class_sets.DEFAULT)))
        except (OSError, KeyError, ValueError) as error:
            raise _unreadable(Path(path), error) from None
        return cls(Path(path), names, labels, lengths, class_set)

    def _read(self, f: h5py.File, index: int) -> np.ndarray:
        """The whole record as stored: int16 microvolts, (12, samples)."""
        raw = f["signals"][str(int(index))].id.read_direct_chunk((0, 0))[1]
        return np.frombuffer(raw, dtype="<i2").reshape(12, int(self.lengths[index]))

    def signals(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(index, whole prepared record as float32 mV) in the given order: what the driver would compute."""
        with h5py.File(self.path, "r") as f:
            for i in indices:
                yield int(i), preprocess.from_counts(self._read(f, i))

    def batches(self, indices: np.ndarray, batch_size: int, pin_memory: bool = False,
                rng: np.random.Generator | None = None,
                augment: Callable[[np.ndarray, np.ndarray, np.random.Generator], None] | None = None
                ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """Yield (indices, windows, labels) batches in the given order, read ahead by a background thread.

        Each record gives one 20-s window: its first when `rng` is None, else a random one of a longer record.
        `augment(signals, lengths, rng)` alters the float batch in place (training only); it runs in the reader
        thread, so it overlaps the training step.
        """
        chunks = [np.asarray(indices[i:i + batch_size]) for i in range(0, len(indices), batch_size)]
        ahead: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def reader() -> None:
            try:
                with h5py.File(self.path, "r") as f:
                    for chunk in chunks:
                        if stop.is_set():
                            return
                        raw = np.zeros((len(chunk), 12, preprocess.LENGTH), dtype=np.int16)
                        valid = np.zeros(len(chunk), dtype=np.int64)
                        for k, i in enumerate(chunk):
                            record = self._read(f, i)
                            n = record.shape[1]
                            start = int(rng.integers(0, n - preprocess.LENGTH + 1)) if rng is not None and \
                                n > preprocess.LENGTH else 0
                            part = record[:, start:start + preprocess.LENGTH]
                            raw[k, :, :part.shape[1]] = part
                            valid[k] = part.shape[1]
                        signal = preprocess.from_counts(raw)
                        if augment is not None:
                            augment(signal, valid, rng)
                        xt = torch.from_numpy(signal)
                        yt = torch.from_numpy(self.labels[chunk])
                        if pin_memory:  # so both copies to the GPU are asynchronous
                            xt, yt = xt.pin_memory(), yt.pin_memory()
                        ahead.put((chunk, xt, yt))
                ahead.put(None)
            except BaseException as error:  # surfaced in the consumer
                damaged = isinstance(error, (OSError, KeyError, ValueError))  # the file, not the code
                ahead.put(_unreadable(self.path, error) if damaged else error)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            while (item := ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a reader waiting on a full queue
                try:
                    ahead.get(timeout=0.1)
                except queue.Empty:
                    pass
            thread.join()
