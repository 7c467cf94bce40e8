"""Event-driven CPU kernel for feed-forward LIF networks with binary spikes (Hübotter et al. 2021, §2.2).

Why a kernel: the synaptic currents of a spiking layer are sums of weight columns selected by the input
spikes. Dense convolutions over all T steps (time folded into the batch) cost the same whatever the spike
density; here every input *spike* adds its weight patch to the currents, so the cost scales with the spike
count (the layers fire on a few percent of their steps). One image at a time goes through the layers, each
over all T steps with its state in the core's cache, and no (T, B, neurons) float tensor is ever
materialised: the forward pass stores one flag byte per neuron and step (spiked / clamped at the lower
bound), the backward pass runs the layers from the top, each over time in reverse, keeping only the
gradients of one layer's spikes for its T steps.

A fully connected layer wider than 256 neurons whose input fires at least 8 spikes a step (the plain SAE's
``fc2`` once its latent layer bursts) runs differently, with the same sums in the same order: in blocks of
256 neurons, each over all T steps, band by band of weight rows, so that the rows a spike reads and its
weight-gradient rows stay in L2 instead of being fetched from L3 once per spike; in the backward pass a
spike's dot product carries its partial sums from block to block. A layer that gets no direct gradient
(no loss on its counts or cumulative potential) skips those reads in the backward pass. The forward pass
keeps the lists of every layer's input spikes it makes (:class:`SpikeLists`, about 0.9 MB an image for
SAE-dense at T = 100), and the backward pass reads them instead of scanning the flags again.

The network is a stack of L layers; layer l maps an input grid (H_in, W_in, C_in) of spikes to an output
grid (H_out, W_out, C_out) of LIF neurons, both stored channels-last. An input spike at (y, x, c) adds
``K[c, j, i, :]`` to the currents at (y + j - pad, x + i - pad) for j, i < k, skipping positions outside
the output grid. This covers

- ``Conv2d`` (stride 1, no padding): ``pad = k - 1``, ``K = W.flip(2, 3).permute(1, 2, 3, 0)``,
- ``ConvTranspose2d`` (stride 1, no padding): ``pad = 0``, ``K = W.permute(0, 2, 3, 1)``,
- ``Linear``: ``H = W = k = 1``, ``K = W.T``.

Neuron (per layer, per step; :func:`spikelib.lif.huebotter_neuron`): ``v = alpha u + I``; ``v <- lower`` if
``v < lower`` (flag 2); spike if ``v > theta`` (``>=`` with ``fire_gt = 0``; flag 1), ``u = 0`` after a
spike, else ``u = v``. Per neuron the kernel also returns the spike count and the leaky cumulative current
``U_T`` (``U_t = d (U_{t-1} + I_t)``, Hübotter eq. 7 in the authors' form, or with ``cumulate_potential``
eq. 7 as printed, ``U_t = d U_{t-1} + v_t``); for the last layer, the read-out ``max_t U_t / s`` and its
time step (the first maximum).

Gradients, as in the torch reference (``simulate(..., **huebotter_neuron())`` and
``cumulative_potential(..., straight_through_decay=True)``): with ``G_t`` the gradient reaching ``I_t``
through the neuron, ``G_t = (g_spike_t + g_count) / theta`` at a spike, 0 at a clamped step, ``G_{t+1}``
otherwise (straight-through leak and reset); ``dU_T/dI_t = 1`` and ``d readout/dI_t = 1/s`` for
``t <= t_max`` (with ``cumulate_potential`` these reach ``v_t`` instead, before the clamp's mask). The
gradient of an input spike is only computed where that input spiked: the upstream neuron's
straight-through derivative is zero elsewhere.

The C code is ``_sae.h`` (spike iteration, geometry, argument structs) and the templates ``_sae.c``
(vector helpers, the forward pass) and ``_sae_backward.c`` (the backward pass),
instantiated for float64 and float32 by :func:`spikelib._cbuild.template_source`. Built once per machine
with the system C compiler (cached under ``$SPIKELIB_CACHE``, default ``~/.cache/spikelib/build``, keyed by
source, flags and CPU), called through ctypes with one argument struct per call (:class:`SaeForwardArgs`,
:class:`SaeBackwardArgs`); ctypes releases the GIL, so images are split across ``torch.get_num_threads()``
Python threads.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from pathlib import Path

import torch

from spikelib._cbuild import CKernel, declare_entry_points, dtype_suffix, template_source

_HERE = Path(__file__).parent
# -ffp-contract=off: no fused multiply-adds, so ``alpha u + I`` rounds as in the torch reference.
_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared", "-std=gnu99"]

_i64, _dbl, _ptr_t = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p


def _source() -> str:
    """_sae.h (spike iteration, geometry, argument structs), then the templates _sae.c and _sae_backward.c
    for double and float."""
    return template_source((_HERE / "_sae.h",), (_HERE / "_sae.c", _HERE / "_sae_backward.c"))


class SaeForwardArgs(ctypes.Structure):
    """Mirror of ``SaeForwardArgs`` in _sae.h (``sae_forward_f64/_f32``); checked by
    :func:`spikelib._cbuild.check_layout` when the library loads."""

    _fields_ = [("b0", _i64), ("b1", _i64), ("T", _i64), ("L", _i64), ("geom", _ptr_t), ("off", _ptr_t),
                ("K", _ptr_t), ("input", _ptr_t), ("alpha", _dbl), ("theta", _dbl), ("fire_gt", _i64),
                ("has_lower", _i64), ("lower", _dbl), ("decay", _dbl), ("cum_v", _i64), ("scale", _dbl),
                ("flags", _ptr_t), ("counts", _ptr_t), ("ufinal", _ptr_t), ("xhat", _ptr_t), ("argmax", _ptr_t),
                ("rec_layer", _i64), ("rec", _ptr_t), ("lists", _ptr_t), ("list_cap", _i64), ("list_start", _ptr_t)]


class SaeBackwardArgs(ctypes.Structure):
    """Mirror of ``SaeBackwardArgs`` in _sae.h (``sae_backward_f64/_f32``)."""

    _fields_ = [("b0", _i64), ("b1", _i64), ("T", _i64), ("L", _i64), ("geom", _ptr_t), ("off", _ptr_t),
                ("K", _ptr_t), ("input", _ptr_t), ("flags", _ptr_t), ("theta", _dbl), ("cum_v", _i64),
                ("scale", _dbl), ("argmax", _ptr_t), ("g_xhat", _ptr_t), ("g_counts", _ptr_t),
                ("g_ufinal", _ptr_t), ("gK", _ptr_t), ("lists", _ptr_t), ("list_cap", _i64), ("list_start", _ptr_t)]


#: (entry point, argument struct) of every exported function, without the precision suffix.
ENTRY_POINTS = (("sae_forward", SaeForwardArgs), ("sae_backward", SaeBackwardArgs))


def _declare(lib) -> None:
    declare_entry_points(lib, ENTRY_POINTS)


def _little_endian() -> None:
    if sys.byteorder != "little":
        raise RuntimeError("the spike scan assumes a little-endian machine")


#: The kernel (``SPIKELIB_SAE_KERNEL=0`` turns it off); its ``lib`` / ``failed`` hold the load state.
KERNEL = CKernel("lif_sae", _source, _FLAGS, _declare, what="LIF SAE kernel", switch="SPIKELIB_SAE_KERNEL",
                 check=_little_endian)


def library():
    """The loaded kernel library, built on first use; None (with one warning) if that is impossible."""
    return KERNEL.library()


def available() -> bool:
    """Whether the kernel can be used (``SPIKELIB_SAE_KERNEL=0`` turns it off)."""
    return KERNEL.available()


def _suffix(dtype: torch.dtype) -> str:
    return dtype_suffix(dtype, "LIF SAE kernel")


def _parallel(fn, struct, n: int, make_fields) -> None:
    """``fn(struct(b0=n0, b1=n1, **make_fields(worker)))`` over slices of the n images; the C side returns
    non-zero when it could not allocate its scratch memory."""
    def run(n0: int, n1: int, i: int) -> int:
        return fn(ctypes.byref(struct(b0=n0, b1=n1, **make_fields(i))))

    if any(KERNEL.parallel(run, n, lambda i: (i,))):
        raise MemoryError("the LIF SAE kernel could not allocate its scratch memory")


def _ptrs(tensors) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _geometry(geom) -> torch.Tensor:
    g = torch.tensor([list(row) for row in geom], dtype=torch.int64).reshape(-1)
    if g.numel() % 8:
        raise ValueError("each layer's geometry has 8 numbers: cin, hin, win, cout, hout, wout, k, pad")
    return g


def _offsets(geom) -> torch.Tensor:
    sizes = [row[3] * row[4] * row[5] for row in geom]
    return torch.tensor([0, *torch.tensor(sizes).cumsum(0).tolist()], dtype=torch.int64)


class FlagLease:
    """A reusable uint8 buffer of at least ``n`` bytes (``buf``) for the flags of :func:`forward` (or, with
    ``kind="lists"``, for :class:`SpikeLists`), given back to a small pool when the lease is garbage
    collected.

    Why: the flags take one byte per neuron and step (287 MB at batch 64, T = 100 for the SAE), and fresh
    memory costs a page fault per 4 KiB on first touch, about a quarter of the forward pass. Whoever holds
    the flags for a backward pass (the autograd context) holds the lease, so that a buffer is never reused
    while it may still be read.
    """

    _free: dict[str, torch.Tensor] = {}  # at most one idle buffer of each kind, the largest
    _lock = threading.Lock()

    def __init__(self, n: int, kind: str = "flags"):
        self.kind = kind
        with self._lock:
            idle = self._free.get(kind)
            if idle is not None and idle.numel() >= n:
                del self._free[kind]
            else:
                idle = None
        self.buf = idle if idle is not None else torch.empty(n, dtype=torch.uint8)

    def __del__(self):
        with self._lock:
            idle = self._free.get(self.kind)
            if idle is None or idle.numel() < self.buf.numel():
                self._free[self.kind] = self.buf


class SpikeLists:
    """Room for the input spike lists that :func:`forward` makes of every image, layer and step, so that
    :func:`backward` reads them instead of listing the flags again (the same lists, so the same gradients:
    on SAE-dense the backward's own listing took ~11 % of its time). ``buf`` (batch, cap) int32, ``start``
    (batch, L, T + 1) int64, as ``kept_lists`` in _sae.h reads them. An image whose lists do not fit in
    ``cap`` entries is marked (``start[b, 0, 0] = -1``) and listed again by the backward.

    ``cap`` (entries per image) defaults to 1.25 x the most an image of the last batch of this shape and
    geometry needed (twice the room it had if one did not fit; T x all inputs / 8 the first time), plus one
    step's worth of the widest layer input, which the kernel wants free before it lists a step. The buffer
    comes from a :class:`FlagLease`, held as long as this object.
    """

    _need: dict[tuple, int] = {}  # (T, geometry) -> entries the fullest image of the last batch needed

    def __init__(self, batch: int, T: int, geom, cap: int | None = None):
        self._key = (int(T), tuple(tuple(int(v) for v in row) for row in geom))
        nin = [row[0] * row[1] * row[2] for row in self._key[1]]
        if cap is None:
            need = self._need.get(self._key, T * sum(nin) // 8)
            cap = int(1.25 * need) + max(nin) + 16
        self.cap = int(cap)
        self._lease = FlagLease(max(64, batch * self.cap * 4), kind="lists")  # never empty: a NULL pointer
        self.buf = self._lease.buf[:batch * self.cap * 4].view(torch.int32).view(batch, self.cap)
        self.start = torch.empty(batch, len(geom), T + 1, dtype=torch.int64)
        self.start[:, 0, 0] = -1  # nothing kept until forward has run

    def kept(self) -> torch.Tensor:
        """Which images' lists fit (bool, (batch,)); valid after :func:`forward` filled them."""
        return self.start[:, 0, 0] >= 0

    def note_use(self) -> None:
        """Remember what this batch needed, for the next one's ``cap``."""
        kept = self.kept()
        need = int(self.start[kept, -1, -1].max()) if kept.any() else 0
        self._need[self._key] = max(need, 2 * self.cap) if not kept.all() else need


def flag_bytes(batch: int, T: int, geom) -> int:
    """The size of :func:`forward`'s flags: one byte per image, step and neuron."""
    return batch * T * int(_offsets(geom)[-1])


def forward(input_spikes: torch.Tensor, kernels, geom, *, alpha: float, theta: float, fire_gt: bool,
            lower: float | None, decay: float, scale: float, cumulate_potential: bool = False,
            keep_flags: bool = True, record_layer: int | None = None, flags_out: torch.Tensor | None = None,
            spike_lists: SpikeLists | None = None):
    """Simulate the network on input spikes (B, T, N0) uint8.

    ``cumulate_potential``: ``U_t = d U_{t-1} + v_t`` of the potential (eq. 7 as printed) instead of the
    authors' ``U_t = d (U_{t-1} + I_t)`` of the currents.

    Returns ``(xhat (B, N_last), argmax (B, N_last) int32, counts (B, Ntot), u_final (B, Ntot),
    flags (B, T, Ntot) uint8 or None, recorded spikes (B, T, N_record) uint8 or None)``; the neuron axis
    concatenates the layers in order, each channels-last. ``flags_out``: a contiguous uint8 buffer of at
    least :func:`flag_bytes` elements (e.g. a :class:`FlagLease`'s) that the flags are written into.
    ``spike_lists``: a :class:`SpikeLists` for this batch that receives the input spike lists, for
    :func:`backward`.
    """
    lib = library()
    B, T, _ = input_spikes.shape
    dtype = kernels[0].dtype
    g, off = _geometry(geom), _offsets(geom)
    L, ntot, nlast = len(geom), int(off[-1]), int(off[-1] - off[-2])
    ks = [k.contiguous() for k in kernels]
    x = input_spikes.contiguous()
    counts = torch.empty(B, ntot, dtype=dtype)
    ufinal = torch.empty(B, ntot, dtype=dtype)
    xhat = torch.empty(B, nlast, dtype=dtype)
    argmax = torch.empty(B, nlast, dtype=torch.int32)
    flags = None
    if keep_flags:
        n = B * T * ntot
        if flags_out is None:
            flags = torch.empty(B, T, ntot, dtype=torch.uint8)
        elif flags_out.dtype != torch.uint8 or not flags_out.is_contiguous() or flags_out.numel() < n:
            raise ValueError(f"flags_out must be a contiguous uint8 tensor of at least {n} elements")
        else:
            flags = flags_out.view(-1)[:n].view(B, T, ntot)
    rec = None
    if record_layer is not None:
        rec = torch.empty(B, T, int(off[record_layer + 1] - off[record_layer]), dtype=torch.uint8)
    lists = _list_fields(spike_lists, B, L, T)
    kp = _ptrs(ks)
    fn = getattr(lib, f"sae_forward_{_suffix(dtype)}")
    _parallel(fn, SaeForwardArgs, B, lambda i: dict(
        T=T, L=L, geom=g.data_ptr(), off=off.data_ptr(), K=ctypes.addressof(kp), input=x.data_ptr(), alpha=alpha,
        theta=theta, fire_gt=int(fire_gt), has_lower=int(lower is not None), lower=0.0 if lower is None else lower,
        decay=decay, cum_v=int(cumulate_potential), scale=scale, flags=_ptr(flags), counts=counts.data_ptr(),
        ufinal=ufinal.data_ptr(), xhat=xhat.data_ptr(), argmax=argmax.data_ptr(),
        rec_layer=-1 if record_layer is None else record_layer, rec=_ptr(rec), **lists))
    if spike_lists is not None:
        spike_lists.note_use()
    return xhat, argmax, counts, ufinal, flags, rec


def _list_fields(spike_lists: SpikeLists | None, B: int, L: int, T: int) -> dict:
    """The argument structs' list fields for ``spike_lists``, checked against the call's shape (the kernels
    index them by image, layer and step)."""
    if spike_lists is None:
        return {"lists": None, "list_cap": 0, "list_start": None}
    if tuple(spike_lists.start.shape) != (B, L, T + 1):
        raise ValueError(f"spike_lists were made for {tuple(spike_lists.start.shape)}, need ({B}, {L}, {T + 1}): "
                         "make a SpikeLists(batch, T, geom) for this call")
    return {"lists": spike_lists._lease.buf.data_ptr(), "list_cap": spike_lists.cap,
            "list_start": spike_lists.start.data_ptr()}


def backward(input_spikes, kernels, geom, flags, argmax, *, theta: float, scale: float,
             cumulate_potential: bool = False, g_xhat=None, g_counts=None, g_ufinal=None,
             spike_lists: SpikeLists | None = None):
    """Weight gradients (in the kernels' layout) for the gradients of the outputs of :func:`forward`;
    ``spike_lists``: the :class:`SpikeLists` that forward filled (the same gradients, sooner)."""
    lib = library()
    B, T, _ = input_spikes.shape
    dtype = kernels[0].dtype
    g, off = _geometry(geom), _offsets(geom)
    L = len(geom)
    ks = [k.contiguous() for k in kernels]
    x = input_spikes.contiguous()
    grads = [None if t is None else t.contiguous().to(dtype) for t in (g_xhat, g_counts, g_ufinal)]
    workers = max(1, min(torch.get_num_threads(), B))
    sizes = [k.numel() for k in ks]
    lists = _list_fields(spike_lists, B, L, T)
    acc = torch.zeros(workers, sum(sizes), dtype=dtype)  # one buffer per thread: no atomics
    views = [list(acc[i].split(sizes)) for i in range(workers)]
    kp = _ptrs(ks)
    gkp = [_ptrs(v) for v in views]
    fn = getattr(lib, f"sae_backward_{_suffix(dtype)}")
    g_xhat, g_counts, g_ufinal = (_ptr(t) for t in grads)
    _parallel(fn, SaeBackwardArgs, B, lambda i: dict(
        T=T, L=L, geom=g.data_ptr(), off=off.data_ptr(), K=ctypes.addressof(kp), input=x.data_ptr(),
        flags=flags.data_ptr(), theta=theta, cum_v=int(cumulate_potential), scale=scale, argmax=argmax.data_ptr(),
        g_xhat=g_xhat, g_counts=g_counts, g_ufinal=g_ufinal, gK=ctypes.addressof(gkp[i]),
        **lists))
    total = acc.sum(dim=0)
    return [part.view_as(k) for part, k in zip(total.split(sizes), ks)]
