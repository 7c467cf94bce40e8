"""C kernel of the audiocoder's weight update in Roy et al.'s online rule (§2.3, §3.2.3): gradient and AdamW
in one pass over the input-major weight (see ``_roy.c``).

Why: at the paper's 58500-2048-196 audiocoder every time step forms the 480 MB gradient ``pre^T delta`` of
the encoder (B = 50 terms per element) and runs AdamW over the weight and its two moments (2.9 GB of
traffic). In torch these are two passes per 512-column tile (``torch.mm`` into a tile buffer, then
``torch._fused_adamw_``), each bound by a different limit (the products by the FMA units, the update by
memory) and neither overlapping the other; here each block of input rows and columns (4 x 64 floats with
AVX-512, 3 x 32 without: what fits the registers) gets its gradient in registers and its update at once,
so the products run while the weight and moments stream.

Built once per machine with the system C compiler like the other kernels (:mod:`spikelib._cbuild`); rows
are split over ``torch.get_num_threads()`` threads (ctypes releases the GIL). ``SPIKELIB_BACKEND=torch``
turns it off (the torch tiles of :class:`spikelib.lif.roy_adam.RoyAdam` then run).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from spikelib._cbuild import CKernel, declare_entry_points, dtype_suffix, template_source

_HERE = Path(__file__).parent
# -fno-math-errno: sqrt vectorises (it never sets errno here: v >= 0)
_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fPIC", "-shared", "-std=gnu99"]

_i64, _dbl, _ptr_t = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p


class RoyOuterArgs(ctypes.Structure):
    """Mirror of ``RoyOuterArgs`` in _roy.h (``roy_outer_adamw_f64/_f32``)."""

    _fields_ = [("r0", _i64), ("r1", _i64), ("H", _i64), ("B", _i64), ("ld_pre", _i64), ("pre", _ptr_t),
                ("delta", _ptr_t), ("w", _ptr_t), ("m", _ptr_t), ("v", _ptr_t), ("lr", _dbl), ("beta1", _dbl),
                ("beta2", _dbl), ("eps", _dbl), ("weight_decay", _dbl), ("step", _dbl)]


#: (entry point, argument struct) of every exported function, without the precision suffix.
ENTRY_POINTS = (("roy_outer_adamw", RoyOuterArgs),)


def _source() -> str:
    return template_source((_HERE / "_roy.h",), (_HERE / "_roy.c",))


def _declare(lib) -> None:
    declare_entry_points(lib, ENTRY_POINTS)


KERNEL = CKernel("lif_roy", _source, _FLAGS, _declare, what="Roy audiocoder update kernel",
                 switch="SPIKELIB_ROY_KERNEL")


def library():
    """The loaded kernel library, built on first use; None (with one warning) if that is impossible."""
    return KERNEL.library()


def usable(w_t: torch.Tensor, *tensors: torch.Tensor) -> bool:
    """Whether the kernel can update the input-major weight ``w_t`` (n_in, H) with these factors: a CPU
    float32/float64 weight, every tensor on the CPU in its dtype, and the kernel built."""
    return (w_t.device.type == "cpu" and w_t.dtype in (torch.float32, torch.float64) and w_t.is_contiguous()
            and all(t.device.type == "cpu" and t.dtype == w_t.dtype for t in tensors) and KERNEL.available())


def outer_adamw(w_t: torch.Tensor, m_t: torch.Tensor, v_t: torch.Tensor, pre: torch.Tensor, delta: torch.Tensor,
                *, lr: float, betas: tuple[float, float], eps: float, weight_decay: float, step: float) -> None:
    """AdamW step ``step`` (1, 2, ...) of the input-major weight ``w_t`` (n_in, H) and its moments ``m_t``,
    ``v_t`` (same layout), in place, with the gradient ``(delta^T pre)^T = pre^T delta``: ``pre`` (B, n_in),
    ``delta`` (B, H)."""
    n_in, H = w_t.shape
    B = pre.shape[0]
    if pre.shape != (B, n_in) or delta.shape != (B, H) or m_t.shape != w_t.shape or v_t.shape != w_t.shape:
        raise ValueError(f"shapes: weight {tuple(w_t.shape)}, moments {tuple(m_t.shape)} / {tuple(v_t.shape)}, "
                         f"pre {tuple(pre.shape)} (want ({B}, {n_in})), delta {tuple(delta.shape)} (want ({B}, {H}))")
    if not (m_t.is_contiguous() and v_t.is_contiguous()):
        raise ValueError("the moments must be contiguous, in the weight's layout")
    pre = pre if pre.stride(1) == 1 else pre.contiguous()
    delta = delta.contiguous()
    fn = getattr(KERNEL.library(), f"roy_outer_adamw_{dtype_suffix(w_t.dtype, 'Roy audiocoder update kernel')}")
    fields = dict(H=H, B=B, ld_pre=pre.stride(0), pre=pre.data_ptr(), delta=delta.data_ptr(), w=w_t.data_ptr(),
                  m=m_t.data_ptr(), v=v_t.data_ptr(), lr=float(lr), beta1=float(betas[0]), beta2=float(betas[1]),
                  eps=float(eps), weight_decay=float(weight_decay), step=float(step))

    def run(r0: int, r1: int) -> int:
        return fn(ctypes.byref(RoyOuterArgs(r0=r0, r1=r1, **fields)))

    if any(KERNEL.parallel(run, n_in, lambda i: ())):
        raise MemoryError("the Roy audiocoder update kernel could not allocate its scratch memory")
