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
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from team_code import log, preprocess
from team_code.atomic import atomic_path
from team_code.labels import CLASSES, to_vector
from team_code.records import RecordError, load_record
from team_code.workers import cpu_cores, read_ahead

CACHE_VERSION = 3

logger = logging.getLogger(__name__)


class CacheError(RuntimeError):
    """The cache file exists but cannot be read (damaged, truncated, not HDF5); the message names it."""


def _unreadable(path: Path, error: BaseException) -> CacheError:
    reason = f"{type(error).__name__}: {error}".splitlines()[0]
    return CacheError(f"{path}: cannot read the training cache ({reason}); delete it and rerun to rebuild it")


def training_record_names(data_dir: str | Path) -> list[str]:
    """Every record name that has a .hea or a .mat file; load_record reports which half is missing."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: training directory not found")
    names = {p.stem for p in data_dir.iterdir() if p.suffix in (".hea", ".mat") and not p.name.startswith(".")}
    return sorted(names)


def cache_key(data_dir: str | Path, names: list[str]) -> str:
    """Hash of the file list, sizes, mtimes and preprocessing settings."""
    digest = hashlib.sha256()
    digest.update(json.dumps([CACHE_VERSION, preprocess.VERSION, preprocess.FS, preprocess.LENGTH,
                              preprocess.MAX_SECONDS, list(CLASSES)]).encode())
    for name in names:
        for suffix in (".hea", ".mat"):
            path = Path(data_dir) / f"{name}{suffix}"
            try:
                st = path.stat()
                digest.update(f"{name}{suffix}:{st.st_size}:{st.st_mtime_ns};".encode())
            except FileNotFoundError:
                digest.update(f"{name}{suffix}:missing;".encode())
    return digest.hexdigest()[:20]


def _load_one(path: Path) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """(signal, label vector, None) for a usable record, else (None, None, reason)."""
    try:
        record = load_record(path)
    except RecordError as error:
        return None, None, str(error)
    if not record.labels:
        return None, None, f"{path}: no label among the nine classes (Dx: {','.join(record.dx) or 'none'})"
    return preprocess.prepare_counts(record.signal, record.fs), to_vector(record.labels), None


def build_cache(data_dir: str | Path, cache_dir: str | Path, workers: int | None = None) -> Path:
    """Return the path of an up-to-date cache for data_dir, building it (atomically) when needed.

    Unreadable and unlabeled records are skipped with one warning each; the list is kept in the cache so a reused
    cache reports them again.
    """
    data_dir = Path(data_dir)
    names = training_record_names(data_dir)
    path = Path(cache_dir) / f"records-{cache_key(data_dir, names)}.h5"
    if path.exists():
        try:
            with h5py.File(path, "r") as f:
                skipped = json.loads(f.attrs["skipped"])
        except (OSError, KeyError, ValueError) as error:
            raise _unreadable(path, error) from None
        logger.debug(f"reusing the cache {path} ({len(names)} record files, {len(skipped)} skipped)")
        for reason in skipped:
            logger.warning(f"skipped {reason}")
        _summarise(len(names), skipped)
        return path
    logger.debug(f"building the cache {path} from {len(names)} record names in {data_dir}")
    workers = workers or min(4, cpu_cores())
    skipped = []
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        signals = f.create_group("signals")
        lengths = np.zeros(len(names), dtype=np.int64)
        labels = np.zeros((len(names), len(CLASSES)), dtype=np.uint8)
        kept: list[str] = []
        # One task per record and a bounded window of them in flight: results wait in memory only until written.
        with ProcessPoolExecutor(workers) if workers > 1 and len(names) > 64 else ThreadPoolExecutor(1) as pool:
            ahead = read_ahead(pool, _load_one, [data_dir / name for name in names], window=4 * workers)
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
    _summarise(len(names), skipped)
    return path


def _summarise(total: int, skipped: list[str]) -> None:
    if skipped:
        logger.warning(f"skipped {len(skipped)} of {total} records (unreadable or without one of the nine labels); "
                       f"training on {total - len(skipped)}")


@dataclass
class CachedRecords:
    """Read access to a built cache: names, labels and lengths in memory, signals streamed per batch."""

    path: Path
    names: list[str]
    labels: np.ndarray  # (n, classes) float32
    lengths: np.ndarray  # (n,) samples at 500 Hz

    @classmethod
    def open(cls, path: str | Path) -> CachedRecords:
        try:
            with h5py.File(path, "r") as f:
                count = int(f.attrs["count"])
                names = [n.decode() if isinstance(n, bytes) else n for n in f["names"][:count]]
                labels = f["labels"][:count].astype(np.float32)
                lengths = f["lengths"][:count].astype(np.int64)
        except (OSError, KeyError, ValueError) as error:
            raise _unreadable(Path(path), error) from None
        return cls(Path(path), names, labels, lengths)

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
