"""Parse and preprocess every training record once into an HDF5 file that all folds and epochs stream from.

The file name is a hash of the record list (names, sizes, mtimes) and the preprocessing settings, so a changed
data directory or a changed `prepare_signal` gets a fresh cache, and an unchanged one is reused (also on resume).
Signals are stored as int16 microvolts (12 x 10000 per record, 240 kB, the resolution of the records themselves),
one HDF5 chunk per record, and read back one batch at a time by raw chunk reads, so memory stays flat however
many records there are and reading is far faster than the network (h5py's fancy indexing is not).
"""
from __future__ import annotations

import hashlib
import json
import queue
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from team_code import preprocess
from team_code.atomic import atomic_path
from team_code.labels import CLASSES, to_vector
from team_code.records import RecordError, load_record
from team_code.workers import cpu_cores, read_ahead

CACHE_VERSION = 2
MICROVOLTS = 1000.0  # stored counts per mV


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
    digest.update(json.dumps([CACHE_VERSION, preprocess.VERSION, preprocess.FS, preprocess.LENGTH, list(CLASSES)]).encode())
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
    signal = np.clip(np.rint(preprocess.prepare_signal(record.signal, record.fs) * MICROVOLTS), -32768, 32767)
    return signal.astype(np.int16), to_vector(record.labels), None


def build_cache(data_dir: str | Path, cache_dir: str | Path, progress: bool = True, report: bool = True,
                workers: int | None = None) -> Path:
    """Return the path of an up-to-date cache for data_dir, building it (atomically) when needed.

    Unreadable and unlabeled records are skipped with one line each on stderr; the list is kept in the cache
    so a reused cache reports them again.
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
        if report:
            for reason in skipped:
                print(f"skipped {reason}", file=sys.stderr)
            _summarise(len(names), skipped)
        return path
    workers = workers or min(4, cpu_cores())
    skipped = []
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        signals = f.create_dataset("signals", (len(names), 12, preprocess.LENGTH), dtype="<i2",
                                   chunks=(1, 12, preprocess.LENGTH), maxshape=(None, 12, preprocess.LENGTH))
        labels = np.zeros((len(names), len(CLASSES)), dtype=np.uint8)
        kept: list[str] = []
        # One task per record and a bounded window of them in flight: results wait in memory only until written.
        with ProcessPoolExecutor(workers) if workers > 1 and len(names) > 64 else ThreadPoolExecutor(1) as pool:
            ahead = read_ahead(pool, _load_one, [data_dir / name for name in names], window=4 * workers)
            for record_path, future in tqdm(ahead, total=len(names), desc="caching records", unit="rec",
                                            disable=not progress, file=sys.stderr):
                signal, label, reason = future.result()
                if reason is not None:
                    skipped.append(reason)
                    if report:
                        tqdm.write(f"skipped {reason}", file=sys.stderr)
                    continue
                signals[len(kept)] = signal
                labels[len(kept)] = label
                kept.append(record_path.name)
        signals.resize(len(kept), axis=0)
        f.create_dataset("labels", data=labels[: len(kept)])
        f.create_dataset("names", data=np.array(kept, dtype=object), dtype=h5py.string_dtype())
        f.attrs["count"] = len(kept)
        f.attrs["skipped"] = json.dumps(skipped)
    if report:
        _summarise(len(names), skipped)
    return path


def _summarise(total: int, skipped: list[str]) -> None:
    if skipped:
        print(f"skipped {len(skipped)} of {total} records (unreadable or without one of the nine labels); "
              f"training on {total - len(skipped)}", file=sys.stderr)


@dataclass
class CachedRecords:
    """Read access to a built cache: names and labels in memory, signals streamed per batch."""

    path: Path
    names: list[str]
    labels: np.ndarray  # (n, 9) float32

    @classmethod
    def open(cls, path: str | Path) -> "CachedRecords":
        try:
            with h5py.File(path, "r") as f:
                count = int(f.attrs["count"])
                names = [n.decode() if isinstance(n, bytes) else n for n in f["names"][:count]]
                labels = f["labels"][:count].astype(np.float32)
        except (OSError, KeyError, ValueError) as error:
            raise _unreadable(Path(path), error) from None
        return cls(Path(path), names, labels)

    def batches(self, indices: np.ndarray, batch_size: int, pin_memory: bool = False
                ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """Yield (indices, signals, labels) batches in the given order, read ahead by a background thread."""
        chunks = [np.asarray(indices[i:i + batch_size]) for i in range(0, len(indices), batch_size)]
        ahead: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def reader() -> None:
            try:
                with h5py.File(self.path, "r") as f:
                    signals = f["signals"]
                    for chunk in chunks:
                        if stop.is_set():
                            return
                        raw = np.empty((len(chunk), 12, preprocess.LENGTH), dtype=np.int16)
                        for k, i in enumerate(chunk):  # one chunk per record, stored raw: no HDF5 selection
                            raw[k] = np.frombuffer(signals.id.read_direct_chunk((int(i), 0, 0))[1],
                                                   dtype="<i2").reshape(12, preprocess.LENGTH)
                        # numpy, not torch: a torch op here would start a second intra-op thread team
                        # competing with the training step's for the same cores.
                        signal = np.multiply(raw, np.float32(1.0 / MICROVOLTS), dtype=np.float32)
                        xt = torch.from_numpy(signal)
                        yt = torch.from_numpy(self.labels[chunk])
                        if pin_memory:  # so both copies to the GPU are asynchronous
                            xt, yt = xt.pin_memory(), yt.pin_memory()
                        ahead.put((chunk, xt, yt))
                ahead.put(None)
            except BaseException as error:  # surfaced in the consumer
                ahead.put(_unreadable(self.path, error) if isinstance(error, (OSError, KeyError, ValueError)) else error)

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
