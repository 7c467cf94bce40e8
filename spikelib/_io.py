"""File-writing helpers shared by the package: nothing is ever left half-written."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _file_mode() -> int:
    """The mode an ordinary new file gets under this process's umask (mkstemp would give 0600)."""
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return 0o666 & ~mask


# read once, at import: os.umask is process-wide, so it is not touched while other threads write files
_FILE_MODE = _file_mode()


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds.

    The temporary file is in the same directory, so ``os.replace`` is atomic: readers see either the old
    file or the complete new one, and an interrupted write leaves nothing behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)  # results, figures and data readable like any other file, not owner-only
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_durably(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` through :func:`atomic_path`, flushed to disk (fsync) before the rename,
    so that a crash right after never leaves an empty or partial file under the final name."""
    write_bytes_durably(target, text.encode("utf-8"))


def write_bytes_durably(target: str | Path, data: bytes) -> None:
    """:func:`write_text_durably` for bytes."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
