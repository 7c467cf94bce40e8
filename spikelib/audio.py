"""Cochleagrams of spoken digits for the audiocoder of Roy et al. (2019, §3.2.1).

The paper preprocesses TI-46 with Lyon's passive ear model (Slaney's Auditory Toolbox) into 39 channels
x 1500 frames per utterance, each divided by its maximum and padded or truncated. TI-46 is not openly
available; the Free Spoken Digit Dataset (:func:`spikelib.data.load_fsdd`, 8 kHz) stands in for it.

Backends (``backend=``), same output contract: float32 (channels, frames) in [0, 1], channel 0 the
highest frequency, frame k summarising samples ``[k d, (k + 1) d)`` for the decimation factor d:

- ``"lyon"``: the PyPI package ``lyon`` (a port of the Auditory Toolbox's ``LyonPassiveEar``; it loads an
  x86-64 shared library). :func:`lyon_cochleagram` calls the package's C filters on the whole signal at
  once, which gives exactly ``LyonCalc().lyon_passive_ear`` (tests check it) 10-30 times faster than
  the package's per-frame loop. Ear Q 8; the step factor is the one that gives ``n_channels`` channels
  (0.41 at 8 kHz, 0.5 at 12.5 kHz for 39).
- ``"gammatone"``: a portable fallback where ``lyon`` cannot load: ``n_channels`` 4th-order gammatone
  filters (``scipy.signal.gammatone``) with centre frequencies equally spaced on the ERB scale over
  Lyon's range, half-wave rectified, averaged over each frame, cube-root compressed (a stand-in for
  Lyon's automatic gain control). Not the paper's front end: results differ.
- ``"auto"``: ``lyon`` when it loads, else ``gammatone`` with a warning.

:func:`fsdd_cochleagrams` computes the whole dataset once per setting and caches it under
``<data_dir>/cochleagrams/`` (compressed float16, written atomically).
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikelib._io import atomic_path

BACKENDS = ("auto", "lyon", "gammatone")
#: Lyon's passive-ear defaults (Auditory Toolbox) used here.
EAR_Q = 8.0
N_CHANNELS = 39  # the paper's 39 frequency channels
N_FRAMES = 1500  # the paper's 1500 frames
#: FSDD at 8 kHz: 1 frame per ms, so 1500 frames cover 1.5 s (longer than 99 % of the recordings).
DECIMATION = 8
CACHE_VERSION = 1


# ----------------------------------------------------------------------------------------- backends


@functools.lru_cache(maxsize=1)
def _lyon_calc():
    from lyon.calc import LyonCalc  # ImportError / OSError where the shared library cannot load

    return LyonCalc()


def lyon_available() -> bool:
    """Whether the ``lyon`` package and its shared library load here."""
    try:
        _lyon_calc()
        return True
    except Exception:  # OSError (wrong architecture), ImportError (not installed), ...
        return False


def resolve_backend(backend: str = "auto") -> str:
    """``"lyon"`` or ``"gammatone"`` for ``backend``; ``"auto"`` falls back to gammatone with a warning."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        if lyon_available():
            return "lyon"
        warnings.warn("the lyon package cannot load here (it ships an x86-64 Linux library): using the "
                      "gammatone filterbank fallback; cochleagrams differ from Lyon's model", stacklevel=3)
        return "gammatone"
    if backend == "lyon" and not lyon_available():
        raise RuntimeError("backend='lyon' but the lyon package cannot load here (pip install lyon==1.0.0 "
                           "on x86-64 Linux); use backend='gammatone' or 'auto'")
    return backend


def _design_lyon(sample_rate: float, ear_q: float, step: float) -> np.ndarray:
    from lyon.utils import design_lyon_filters

    return design_lyon_filters(sample_rate, ear_q, step)[0]


@functools.lru_cache(maxsize=None)
def lyon_step_factor(sample_rate: float, n_channels: int = N_CHANNELS, ear_q: float = EAR_Q) -> float:
    """The largest step factor (two decimals) for which Lyon's cascade has ``n_channels`` output channels
    (the model drops its first two): 0.41 at 8 kHz, 0.5 at 12.5 kHz for 39."""
    for step in np.round(np.arange(1.0, 0.049, -0.01), 2):
        if _design_lyon(sample_rate, ear_q, float(step)).shape[1] - 2 == n_channels:
            return float(step)
    raise ValueError(f"no step factor in [0.05, 1] gives {n_channels} Lyon channels at {sample_rate} Hz")


def lyon_cochleagram(signal: np.ndarray, sample_rate: float, *, decimation: int = DECIMATION,
                     n_channels: int = N_CHANNELS, ear_q: float = EAR_Q, step_factor: float | None = None,
                     tau_factor: float = 3.0) -> np.ndarray:
    """Lyon's passive ear (with AGC and channel differences), (channels, frames), unnormalised.

    Equal to ``LyonCalc().lyon_passive_ear(signal, sample_rate, decimation, ear_q, step_factor).T``: the
    cascade, AGC and decimation filters keep their state from sample to sample, so running each over the
    whole signal and taking the last sample of every frame gives the same numbers as the package's loop
    over frames (which also zeroes channels 0 and 1 at each frame's first sample; done here too).
    """
    from lyon.utils import epsilon_from_tau, set_gain

    calc = _lyon_calc()
    step = lyon_step_factor(float(sample_rate), n_channels, ear_q) if step_factor is None else step_factor
    filters = _design_lyon(sample_rate, ear_q, step)
    d = int(decimation)
    n_out = signal.size // d
    if n_out == 0:
        return np.zeros((filters.shape[1] - 2, 0), np.float64)
    out, _ = calc.soscascade(np.ascontiguousarray(signal[:n_out * d], dtype=np.double), filters)
    out = np.clip(out, 0, None)
    out[::d, :2] = 0  # the package's "test hack", once per frame
    eps = [epsilon_from_tau(tau, sample_rate) for tau in (0.64, 0.16, 0.04, 0.01)]
    agc_params = np.array(list(zip((0.0032, 0.0016, 0.0008, 0.0004), eps)), dtype=np.double)
    out, _ = calc.agc(np.ascontiguousarray(out), agc_params)
    out = np.clip(np.concatenate([out[:, :1], out[:, :-1] - out[:, 1:]], axis=1), 0, None)
    if d > 1:
        dec_eps = epsilon_from_tau(d / sample_rate * tau_factor, sample_rate)
        dec = set_gain(np.array([0, 0, 1, -2 * (1 - dec_eps), (1 - dec_eps) ** 2], dtype=np.double), 1, 0,
                       sample_rate)
        out, _ = calc.sosfilters(np.ascontiguousarray(out), dec[:, np.newaxis])
    return out[d - 1::d][:n_out, 2:].T


def _erb_space(low: float, high: float, n: int) -> np.ndarray:
    """``n`` frequencies from ``high`` down to ``low`` equally spaced on the ERB-rate scale (Glasberg &
    Moore 1990), high first like Lyon's channels."""
    erb = lambda f: 21.4 * np.log10(1 + 0.00437 * f)  # noqa: E731
    inv = lambda e: (10 ** (e / 21.4) - 1) / 0.00437  # noqa: E731
    return inv(np.linspace(erb(high), erb(low), n))


def gammatone_cochleagram(signal: np.ndarray, sample_rate: float, *, decimation: int = DECIMATION,
                          n_channels: int = N_CHANNELS, low: float = 100.0, high: float | None = None
                          ) -> np.ndarray:
    """Gammatone filterbank fallback, (channels, frames), unnormalised (module docstring).

    Centre frequencies from ``high`` (default 0.9 x Nyquist) down to ``low`` on the ERB scale; each
    channel is rectified, averaged over frames of ``decimation`` samples and cube-root compressed.
    """
    from scipy.signal import gammatone, lfilter

    high = 0.45 * sample_rate if high is None else high
    if not 0 < low < high < sample_rate / 2:
        raise ValueError(f"need 0 < low < high < Nyquist, got low={low}, high={high}, fs={sample_rate}")
    d = int(decimation)
    n_out = signal.size // d
    x = np.asarray(signal[:n_out * d], dtype=np.float64)
    out = np.empty((n_channels, n_out))
    for c, f in enumerate(_erb_space(low, high, n_channels)):
        b, a = gammatone(f, "iir", fs=sample_rate)
        y = np.clip(lfilter(b, a, x), 0, None)
        out[c] = y.reshape(n_out, d).mean(axis=1)
    return np.cbrt(out)


def fit_frames(c: np.ndarray, n_frames: int) -> np.ndarray:
    """Divide by the maximum (an all-zero map stays zero), then zero-pad or truncate the frames to
    ``n_frames``: (channels, frames) -> float32 (channels, n_frames) in [0, 1] (the paper's preprocessing)."""
    peak = float(c.max()) if c.size else 0.0
    c = c / peak if peak > 0 else np.zeros_like(c)
    out = np.zeros((c.shape[0], n_frames), np.float32)
    k = min(n_frames, c.shape[1])
    out[:, :k] = c[:, :k]
    return out


def cochleagram(signal: np.ndarray, sample_rate: float, *, n_frames: int = N_FRAMES,
                decimation: int = DECIMATION, n_channels: int = N_CHANNELS, backend: str = "auto"
                ) -> np.ndarray:
    """One utterance -> float32 (n_channels, n_frames) in [0, 1]: the cochleagram of ``backend``
    divided by its maximum, padded with zeros or truncated to ``n_frames`` frames of ``decimation``
    samples each."""
    if n_frames < 1 or decimation < 1 or n_channels < 1:
        raise ValueError(f"n_frames, decimation and n_channels must be >= 1, got {n_frames}, {decimation}, "
                         f"{n_channels}")
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"signal must be mono (1-D), got shape {signal.shape}")
    name = resolve_backend(backend)
    fn = lyon_cochleagram if name == "lyon" else gammatone_cochleagram
    return fit_frames(fn(signal, sample_rate, decimation=decimation, n_channels=n_channels), n_frames)


# -------------------------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class Cochleagrams:
    """Cochleagrams of FSDD recordings: ``data`` float32 (N, channels, frames) and their labels."""

    data: np.ndarray
    digits: np.ndarray
    speakers: list[str]
    indices: np.ndarray
    files: list[str]
    backend: str
    settings: dict

    def __len__(self) -> int:
        return len(self.files)

    def flat(self) -> np.ndarray:
        """(N, channels x frames): the audiocoder's input rates (the paper's 58,500-vector)."""
        return self.data.reshape(len(self.data), -1)


def cache_dir() -> Path:
    """``<spikelib.data.data_dir()>/cochleagrams``."""
    from spikelib.data import data_dir

    return data_dir() / "cochleagrams"


def _cache_path(settings: dict, files: list[str]) -> Path:
    blob = json.dumps({"v": CACHE_VERSION, "settings": settings, "files": files}, sort_keys=True).encode()
    key = hashlib.sha256(blob).hexdigest()[:16]
    return cache_dir() / (f"fsdd-{settings['backend']}-c{settings['n_channels']}-f{settings['n_frames']}-"
                          f"d{settings['decimation']}-{key}.npz")


@functools.lru_cache(maxsize=2)
def _read_cache(path: str, mtime_ns: int, files: tuple[str, ...]) -> np.ndarray | None:
    """The cached float16 maps as float32 (read-only), or None if the file does not hold ``files``; kept in
    memory so that the train and test splits of one setting read the file once."""
    try:
        with np.load(path) as z:
            if tuple(z["files"]) != files:
                return None
            data = z["data"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return None  # unreadable: recomputed and overwritten
    data.setflags(write=False)
    return data


def fsdd_cochleagrams(split: str = "all", *, n_frames: int = N_FRAMES, decimation: int = DECIMATION,
                      n_channels: int = N_CHANNELS, backend: str = "auto", cache: bool = True,
                      fsdd=None) -> Cochleagrams:
    """Cochleagrams of the FSDD ``split`` ("train": recordings 5-49, "test": 0-4, "all").

    The whole dataset is computed once per setting (about half a minute with Lyon at 1 frame per ms on one
    core) and cached as compressed float16 under :func:`cache_dir` (atomically, keyed by the settings, the
    backend and the file list); later calls read the cache. ``fsdd`` replaces
    :func:`spikelib.data.load_fsdd` ``("all")`` (tests pass a few synthetic recordings).
    """
    from spikelib.data import load_fsdd

    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    full = load_fsdd("all") if fsdd is None else fsdd
    name = resolve_backend(backend)
    settings = dict(backend=name, n_frames=int(n_frames), decimation=int(decimation), n_channels=int(n_channels),
                    sample_rate=int(full.sample_rate))
    path = _cache_path(settings, list(full.files))
    data = None
    if cache and path.is_file():
        data = _read_cache(str(path), path.stat().st_mtime_ns, tuple(full.files))
    if data is None:
        data = np.stack([cochleagram(w, full.sample_rate, n_frames=n_frames, decimation=decimation,
                                     n_channels=n_channels, backend=name) for w in full.waveforms])
        if cache:
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez_compressed(f, data=data.astype(np.float16), files=np.array(full.files))
            data = data.astype(np.float16).astype(np.float32)  # the same values as a cached read
    keep = np.ones(len(full.files), bool) if split == "all" else (np.asarray(full.indices) < 5) == (split == "test")
    idx = np.flatnonzero(keep)
    return Cochleagrams(data=data[idx], digits=np.asarray(full.digits)[idx],
                        speakers=[full.speakers[i] for i in idx], indices=np.asarray(full.indices)[idx],
                        files=[full.files[i] for i in idx], backend=name, settings=settings)
