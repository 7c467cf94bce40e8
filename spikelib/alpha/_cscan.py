"""The CPU scan kernel (``_scan.c``): built once per machine with the system C compiler, called via ctypes.

Why a C kernel: the vectorised torch formulation evaluates the crossing test for every prefix of every
(example, neuron) in memory; a sequential scan keeps the running sums in cache and stops each neuron at its
spike, which is several times faster on a 2-core CPU. The algorithm and the crossing test are those of the
torch path in :mod:`spikelib.alpha.functional`, which remains the reference and the CUDA path; the tests
check that both agree. Without a C compiler everything falls back to the torch path.

The shared library is cached under ``$SPIKELIB_CACHE`` (default ``~/.cache/spikelib/build``), keyed by the
source, the compiler flags and the CPU's feature flags, and written atomically. ctypes releases the GIL, so
examples are split across threads (``torch.get_num_threads()``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from spikelib._io import atomic_path

_SOURCE = Path(__file__).with_name("_scan.c")
_FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-std=c99"]
_lock = threading.Lock()
_lib = None
_failed: str | None = None
_pool: ThreadPoolExecutor | None = None


def _cpu_key() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build_dir() -> Path:
    return Path(os.environ.get("SPIKELIB_CACHE", Path.home() / ".cache" / "spikelib" / "build"))


def _library_path() -> Path:
    key = hashlib.sha256(_SOURCE.read_bytes() + " ".join(_FLAGS).encode() + _cpu_key().encode()).hexdigest()[:16]
    return _build_dir() / f"alpha_scan_{key}.so"


def _compile(path: Path) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
    with atomic_path(path) as tmp:
        proc = subprocess.run([cc, *_FLAGS, "-o", str(tmp), str(_SOURCE), "-lm"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[:2000]}")


def _declare(lib) -> None:
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        fwd = getattr(lib, f"alpha_forward_{suffix}")
        fwd.restype = None
        fwd.argtypes = [i64, i64, i64, i64, ptr, ptr, ptr, real, real, real, ptr, ptr, ptr, ptr, ptr]
        bwd = getattr(lib, f"alpha_backward_{suffix}")
        bwd.restype = None
        bwd.argtypes = [i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, real, real, ptr, ptr]


def library():
    """The loaded kernel library, building it on first use; None (with one warning) if that fails."""
    global _lib, _failed
    if _lib is not None or _failed is not None:
        return _lib
    with _lock:
        if _lib is None and _failed is None:
            try:
                path = _library_path()
                if not path.exists():
                    _compile(path)
                lib = ctypes.CDLL(str(path))
                _declare(lib)
                _lib = lib
            except Exception as exc:  # no compiler, read-only cache, exotic platform
                _failed = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"spikelib: CPU scan kernel unavailable ({_failed}); using the torch path")
    return _lib


def available() -> bool:
    return os.environ.get("SPIKELIB_CSCAN", "1") not in ("0", "false", "no") and library() is not None


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _parallel(fn, N: int, make_args) -> None:
    """Run ``fn(n0, n1, *make_args(worker))`` over slices of the N examples on torch's thread count."""
    global _pool
    workers = max(1, min(torch.get_num_threads(), N))
    if workers == 1:
        fn(0, N, *make_args(0))
        return
    if _pool is None or _pool._max_workers < workers:  # noqa: SLF001 - sizing our own pool
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spikelib-scan")
    bounds = [(N * i) // workers for i in range(workers + 1)]
    futures = [_pool.submit(fn, bounds[i], bounds[i + 1], *make_args(i)) for i in range(workers)]
    for f in futures:
        f.result()


def _suffix(dtype: torch.dtype) -> str:
    if dtype == torch.float32:
        return "f32"
    if dtype == torch.float64:
        return "f64"
    raise TypeError(f"the CPU scan kernel supports float32 and float64, not {dtype}")


def forward(t_s: torch.Tensor, order: torch.Tensor, w: torch.Tensor, tau: float, theta: float, span: float):
    """First valid prefix of every (example, output): a, b, reference time (N, J) and k_star (N, J; K: silent)."""
    lib = library()
    N, K = t_s.shape
    J = w.shape[1]
    t_s, order, w = t_s.contiguous(), order.contiguous(), w.contiguous()
    a = torch.empty(N, J, dtype=t_s.dtype)
    b = torch.empty_like(a)
    ref = torch.empty_like(a)
    k_star = torch.empty(N, J, dtype=torch.int64)
    workers = max(1, min(torch.get_num_threads(), N))
    scratch = torch.empty(workers, 2 * J, dtype=t_s.dtype)
    fn = getattr(lib, f"alpha_forward_{_suffix(t_s.dtype)}")
    _parallel(
        fn, N,
        lambda i: (K, J, _ptr(t_s), _ptr(order), _ptr(w), tau, theta, span, _ptr(a), _ptr(b), _ptr(ref),
                   _ptr(k_star), _ptr(scratch[i])),
    )
    return a, b, ref, k_star


def backward(t_s, order, w, k_star, ref_k, t_out, inv_denom, grad_out, tau: float, clip: float, n_in: int):
    """Gradients w.r.t. the weights (n_in, J) and the input times (N, n_in) for upstream ``grad_out`` (N, J)."""
    lib = library()
    N, K = t_s.shape
    J = w.shape[1]
    args = [x.contiguous() for x in (t_s, order, w, k_star, ref_k, t_out, inv_denom, grad_out)]
    workers = max(1, min(torch.get_num_threads(), N))
    grad_w = torch.zeros(workers, *w.shape, dtype=w.dtype)  # one buffer per thread: no atomics
    grad_t = torch.zeros(N, n_in, dtype=t_s.dtype)
    fn = getattr(lib, f"alpha_backward_{_suffix(t_s.dtype)}")
    _parallel(
        fn, N,
        lambda i: (K, J, n_in, *[_ptr(x) for x in args], tau, clip, _ptr(grad_w[i]), _ptr(grad_t)),
    )
    return grad_w.sum(dim=0), grad_t
