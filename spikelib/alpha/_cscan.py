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
from pathlib import Path

import torch

from spikelib._cbuild import CKernel, dtype_suffix

_SOURCE = Path(__file__).with_name("_scan.c")
_FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-std=c99"]


def _declare(lib) -> None:
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        fwd = getattr(lib, f"alpha_forward_{suffix}")
        fwd.restype = None
        fwd.argtypes = [i64, i64, i64, i64, ptr, ptr, ptr, real, real, real, ptr, ptr, ptr, ptr, ptr]
        bwd = getattr(lib, f"alpha_backward_{suffix}")
        bwd.restype = None
        bwd.argtypes = [i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, real, real, ptr, ptr]


#: The kernel (``SPIKELIB_CSCAN=0`` turns it off); its ``lib`` / ``failed`` hold the load state.
KERNEL = CKernel("alpha_scan", _SOURCE.read_text, _FLAGS, _declare, what="CPU scan kernel",
                 switch="SPIKELIB_CSCAN", link=("-lm",))


def library():
    """The loaded kernel library, building it on first use; None (with one warning) if that fails."""
    return KERNEL.library()


def available() -> bool:
    return KERNEL.available()


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _suffix(dtype: torch.dtype) -> str:
    return dtype_suffix(dtype, "CPU scan kernel")


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
    KERNEL.parallel(
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
    KERNEL.parallel(
        fn, N,
        lambda i: (K, J, n_in, *[_ptr(x) for x in args], tau, clip, _ptr(grad_w[i]), _ptr(grad_t)),
    )
    return grad_w.sum(dim=0), grad_t
