"""Atomic, durable file writes: a reader, a killed run or a power cut leaves the old file or the new one, never half
of one. The new file's data are fsynced before the rename and the directory after it, so a finished write (a fold
checkpoint, an output) survives a power loss rather than turning up empty or missing on reboot."""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def fsync_path(path: str | Path) -> None:
    """Flush a file's or a directory's contents (a directory: its entries, i.e. renames and unlinks) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as error:
        # Some network and shared-folder filesystems (CIFS, some Docker Desktop mounts) cannot fsync a directory;
        # there, what the filesystem itself guarantees is all there is.
        if not (Path(path).is_dir() and error.errno in (errno.EINVAL, errno.ENOTSUP, errno.EBADF)):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` (fsynced before and after unless
    durable=False, for files cheaper to remake than to sync), on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes owner-only files; give the usual permissions
    try:
        yield Path(tmp)
        if durable:
            fsync_path(tmp)  # whoever wrote it (torch.save, h5py, write_text) has closed it by now
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_path(path.parent)


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically and durably."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove(path: str | Path) -> None:
    """Delete `path` if present, durably (so a power cut cannot bring it back)."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        fsync_path(path.parent)
