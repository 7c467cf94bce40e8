"""Event-driven CPU kernel for feed-forward LIF networks with binary spikes (Hübotter et al. 2021, §2.2).

Why a kernel: the synaptic currents of a spiking layer are sums of weight columns selected by the input
spikes. Dense convolutions over all T steps (time folded into the batch) cost the same whatever the spike
density; here every input *spike* adds its weight patch to the currents, so the cost scales with the spike
count (the layers fire on a few percent of their steps). One image at a time goes through the layers, each
over all T steps with its state in the core's cache, and no (T, B, neurons) float tensor is ever
materialised: the forward pass stores one flag byte per neuron and step (spiked / clamped at the lower
bound), the backward pass runs the layers from the top, each over time in reverse, keeping only the
gradients of one layer's spikes for its T steps.

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

Built once per machine with the system C compiler (cached under ``$SPIKELIB_CACHE``, default
``~/.cache/spikelib/build``, keyed by source, flags and CPU), called through ctypes, which releases the
GIL: images are split across ``torch.get_num_threads()`` Python threads. float32 and float64 versions.
"""

from __future__ import annotations

import ctypes
import sys

import torch

from spikelib._cbuild import CKernel, dtype_suffix

_HEADER = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ONES 0x0101010101010101ULL

static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

/* One bit per spiking byte among src[w .. min(w + 8, n)), at bit 8 j for byte j (little endian). */
static inline uint64_t spike_word(const uint8_t *src, int64_t w, int64_t n) {
    uint64_t m = 0;
    if (w + 8 <= n) { memcpy(&m, src + w, 8); return m & ONES; }
    for (int64_t j = 0; w + j < n; ++j) m |= (uint64_t)(src[w + j] & 1) << (8 * j);
    return m;
}

/* Iterate p over the indices in [0, n) with src[p] & 1, eight zero bytes per test. */
#define FOR_SPIKES(src, n, p)                                                               \
    for (int64_t _w = 0; _w < (n); _w += 8)                                                 \
        for (uint64_t _m = spike_word((src), _w, (n)); _m; _m &= _m - 1)                    \
            for (int64_t p = _w + (__builtin_ctzll(_m) >> 3), _once = 1; _once; _once = 0)

/* geometry of layer l: cin, hin, win, cout, hout, wout, k, pad */
typedef struct { int64_t cin, hin, win, cout, hout, wout, k, pad; } geom_t;

static inline geom_t geom_at(const int64_t *g, int64_t l) {
    const int64_t *q = g + 8 * l;
    geom_t r = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]};
    return r;
}
"""

# REAL and SFX are replaced once per floating-point type.
_TEMPLATE = r"""
static inline void add_SFX(REAL *restrict o, const REAL *restrict k, int64_t n) {
    for (int64_t q = 0; q < n; ++q) o[q] += k[q];
}

/* g += o; return sum(k * o). 32-byte vectors of partial sums (GCC vector extensions; unaligned loads
 * through memcpy): the compiler will not reorder a float reduction by itself. */
typedef REAL vec_SFX __attribute__((vector_size(32)));
#define LANES_SFX ((int64_t)(32 / sizeof(REAL)))

static inline REAL dot_acc_SFX(const REAL *restrict k, const REAL *restrict o, REAL *restrict g, int64_t n) {
    vec_SFX part = {0};
    int64_t q = 0;
    for (; q + LANES_SFX <= n; q += LANES_SFX) {
        vec_SFX kv, ov, gv;
        memcpy(&kv, k + q, sizeof kv);
        memcpy(&ov, o + q, sizeof ov);
        memcpy(&gv, g + q, sizeof gv);
        part += kv * ov;
        gv += ov;
        memcpy(g + q, &gv, sizeof gv);
    }
    REAL s = 0;
    for (; q < n; ++q) { s += k[q] * o[q]; g[q] += o[q]; }
    for (int64_t r = 0; r < LANES_SFX; ++r) s += part[r];
    return s;
}

static inline void acc_SFX(const REAL *restrict o, REAL *restrict g, int64_t n) {
    for (int64_t q = 0; q < n; ++q) g[q] += o[q];
}

/* Visit every spike of an input grid src (hin, win, cin) as (y, x, c): channel blocks of eight bytes per
 * test, no division when cin is a multiple of 8 (the convolutional and wide layers). */
#define FOR_EACH_SPIKE(g, src, y, x, c, ...)                                                      \
    if ((g).cin % 8 == 0) {                                                                       \
        for (int64_t y = 0; y < (g).hin; ++y)                                                     \
            for (int64_t x = 0; x < (g).win; ++x) {                                               \
                const uint8_t *_s = (src) + (y * (g).win + x) * (g).cin;                          \
                for (int64_t _w = 0; _w < (g).cin; _w += 8) {                                     \
                    uint64_t _m;                                                                  \
                    memcpy(&_m, _s + _w, 8);                                                      \
                    for (_m &= ONES; _m; _m &= _m - 1) {                                          \
                        const int64_t c = _w + (__builtin_ctzll(_m) >> 3);                        \
                        __VA_ARGS__                                                               \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
    } else {                                                                                      \
        FOR_SPIKES((src), (g).hin * (g).win * (g).cin, _p) {                                      \
            const int64_t c = _p % (g).cin, _xy = _p / (g).cin, x = _xy % (g).win, y = _xy / (g).win; \
            __VA_ARGS__                                                                           \
        }                                                                                         \
    }

/* currents (hout, wout, cout) += the weight patches of the input spikes src (hin, win, cin) */
static void scatter_SFX(const uint8_t *src, geom_t g, const REAL *K, REAL *cur) {
    const int64_t kk = g.k * g.k;
    FOR_EACH_SPIKE(g, src, y, x, c, {
        const int64_t j0 = imax(0, g.pad - y), j1 = imin(g.k, g.hout + g.pad - y);
        const int64_t i0 = imax(0, g.pad - x), i1 = imin(g.k, g.wout + g.pad - x);
        const REAL *kc = K + c * kk * g.cout;
        /* for fixed j the targets x + i - pad, i in [i0, i1), are contiguous: one add of (i1 - i0) cout */
        if (i1 > i0)
            for (int64_t j = j0; j < j1; ++j)
                add_SFX(cur + ((y + j - g.pad) * g.wout + x + i0 - g.pad) * g.cout,
                        kc + (j * g.k + i0) * g.cout, (i1 - i0) * g.cout);
    })
}

/* gK += input spikes x gI; gs at every input spike = K[spike] . gI (gs may be NULL; gs is indexed like
 * src). With any = 0 (gI all zero) only gs = 0 is written. */
static void gather_SFX(const uint8_t *src, geom_t g, const REAL *K, const REAL *gI, REAL *gK, REAL *gs, int any) {
    const int64_t kk = g.k * g.k;
    FOR_EACH_SPIKE(g, src, y, x, c, {
        const int64_t p = (y * g.win + x) * g.cin + c;
        const int64_t j0 = imax(0, g.pad - y), j1 = imin(g.k, g.hout + g.pad - y);
        const int64_t i0 = imax(0, g.pad - x), i1 = imin(g.k, g.wout + g.pad - x);
        REAL s = 0;
        if (any && i1 > i0) {
            const REAL *kc = K + c * kk * g.cout;
            REAL *gc = gK + c * kk * g.cout;
            for (int64_t j = j0; j < j1; ++j) {
                const int64_t ko = (j * g.k + i0) * g.cout, n = (i1 - i0) * g.cout;
                const REAL *o = gI + ((y + j - g.pad) * g.wout + x + i0 - g.pad) * g.cout;
                if (gs) s += dot_acc_SFX(kc + ko, o, gc + ko, n);
                else acc_SFX(o, gc + ko, n);
            }
        }
        if (gs) gs[p] = s;
    })
}

/* One step of N LIF neurons (see the module docstring): currents cur -> potentials u, spike counts cnt,
 * cumulative potential U (of the currents, or with cum_v of the potential v before reset), flags f
 * (1 spiked, 2 clamped). */
static inline void lif_update_SFX(int64_t N, const REAL *restrict cur, REAL *restrict u, REAL *restrict U,
                                  REAL *restrict cnt, uint8_t *restrict f, REAL alpha, REAL theta, int64_t fire_gt,
                                  int64_t has_lower, REAL lower, REAL decay, int64_t cum_v) {
    for (int64_t n = 0; n < N; ++n) {
        const REAL vr = alpha * u[n] + cur[n];
        const int clamped = has_lower && vr < lower;
        const REAL v = clamped ? lower : vr;
        const int s = fire_gt ? v > theta : v >= theta;
        u[n] = s ? (REAL)0 : v;
        cnt[n] += (REAL)s;
        U[n] = cum_v ? decay * U[n] + v : decay * (U[n] + cur[n]);
        f[n] = (uint8_t)(s | (clamped << 1));
    }
}

/* Layer by layer, each over all T steps, one image at a time: a layer's state stays in the core's cache
 * while its input spikes (the flags of the layer below, or the input) stream past. */
int sae_forward_SFX(int64_t b0, int64_t b1, int64_t T, int64_t L, const int64_t *geom, const int64_t *off,
                    const REAL *const *K, const uint8_t *input, double alpha_d, double theta_d, int64_t fire_gt,
                    int64_t has_lower, double lower_d, double decay_d, int64_t cum_v, double scale_d,
                    uint8_t *flags, REAL *counts, REAL *ufinal, REAL *xhat, int32_t *argmax, int64_t rec_layer,
                    uint8_t *rec) {
    const REAL alpha = (REAL)alpha_d, theta = (REAL)theta_d, lower = (REAL)lower_d, decay = (REAL)decay_d,
               scale = (REAL)scale_d;
    const int64_t Ntot = off[L], NL = off[L] - off[L - 1];
    const geom_t g0 = geom_at(geom, 0);
    const int64_t N0 = g0.hin * g0.win * g0.cin;
    int64_t nmax = 0;
    for (int64_t l = 0; l < L; ++l) { geom_t g = geom_at(geom, l); nmax = imax(nmax, g.hout * g.wout * g.cout); }
    REAL *u = malloc(nmax * sizeof(REAL)), *cur = malloc(nmax * sizeof(REAL));
    uint8_t *tmp = flags ? NULL : malloc(T * Ntot); /* without stored flags: one image's worth */
    if (!u || !cur || (!flags && !tmp)) { free(u); free(cur); free(tmp); return 1; }
    for (int64_t b = b0; b < b1; ++b) {
        uint8_t *fb = flags ? flags + b * T * Ntot : tmp;
        REAL *best = xhat + b * NL; /* the running maximum; divided by s at the end */
        int32_t *am = argmax + b * NL;
        for (int64_t l = 0; l < L; ++l) {
            const geom_t g = geom_at(geom, l);
            const int64_t N = g.hout * g.wout * g.cout, o = off[l];
            REAL *U = ufinal + b * Ntot + o, *cnt = counts + b * Ntot + o;
            memset(u, 0, N * sizeof(REAL));
            memset(U, 0, N * sizeof(REAL));
            memset(cnt, 0, N * sizeof(REAL));
            for (int64_t t = 0; t < T; ++t) {
                const uint8_t *src = l == 0 ? input + (b * T + t) * N0 : fb + t * Ntot + off[l - 1];
                uint8_t *f = fb + t * Ntot + o;
                memset(cur, 0, N * sizeof(REAL));
                scatter_SFX(src, g, K[l], cur);
                lif_update_SFX(N, cur, u, U, cnt, f, alpha, theta, fire_gt, has_lower, lower, decay, cum_v);
                if (l == L - 1)
                    for (int64_t n = 0; n < N; ++n)
                        if (t == 0 || U[n] > best[n]) { best[n] = U[n]; am[n] = (int32_t)t; }
                if (rec && l == rec_layer) {
                    uint8_t *r = rec + (b * T + t) * N;
                    for (int64_t n = 0; n < N; ++n) r[n] = f[n] & 1;
                }
            }
        }
        for (int64_t n = 0; n < NL; ++n) best[n] /= scale;
    }
    free(u); free(cur); free(tmp);
    return 0;
}

/* Backward through one layer's neurons at one step. G (carried from t + 1, the gradient of the potential's
 * next step) becomes (gs + gc) / theta at a spike, 0 at a clamped step, unchanged otherwise. gu and r are
 * the direct gradients of the cumulative potential U_T and of the read-out at this step: they reach the
 * current (gI = G + gu + r) or, with cum_v, the potential v (G += gu + r, before the clamp's mask).
 * Arithmetic masks instead of branches, so that the loop vectorises; returns whether any gI is non-zero. */
static inline int neuron_grad_SFX(int64_t N, const uint8_t *restrict f, REAL *restrict G, const REAL *restrict gs,
                                  const REAL *restrict gc, const REAL *restrict gu, const REAL *restrict r,
                                  REAL *restrict gI, REAL theta, int64_t cum_v) {
    int any = 0;
    if (cum_v) {
        for (int64_t n = 0; n < N; ++n) {
            const REAL spiked = (REAL)(f[n] & 1), free_ = (REAL)((f[n] & 2) == 0);
            const REAL dv = spiked * ((gs[n] + gc[n]) / theta) + (1 - spiked) * G[n] + gu[n] + r[n];
            const REAL Gn = free_ * dv;
            G[n] = Gn;
            gI[n] = Gn;
            any |= Gn != 0;
        }
        return any;
    }
    for (int64_t n = 0; n < N; ++n) {
        const REAL at_spike = (gs[n] + gc[n]) / theta;
        const REAL spiked = (REAL)(f[n] & 1), carried = (REAL)(f[n] == 0);
        const REAL Gn = spiked * at_spike + carried * G[n];
        G[n] = Gn;
        gI[n] = Gn + gu[n] + r[n];
        any |= gI[n] != 0;
    }
    return any;
}

/* Layer by layer from the top, each over all T steps in reverse, one image at a time. gs_in holds the
 * gradients of this layer's spikes for all T steps (written by the layer above at its input spikes),
 * gs_out receives those of the layer below. Both start zeroed and then only ever hold finite values, so
 * the masked products in neuron_grad never see garbage. */
int sae_backward_SFX(int64_t b0, int64_t b1, int64_t T, int64_t L, const int64_t *geom, const int64_t *off,
                     const REAL *const *K, const uint8_t *input, const uint8_t *flags, double theta_d,
                     int64_t cum_v, double scale_d, const int32_t *argmax, const REAL *g_xhat,
                     const REAL *g_counts, const REAL *g_ufinal, REAL *const *gK) {
    const REAL theta = (REAL)theta_d, scale = (REAL)scale_d;
    const int64_t Ntot = off[L], NL = off[L] - off[L - 1];
    const geom_t g0 = geom_at(geom, 0);
    const int64_t N0 = g0.hin * g0.win * g0.cin;
    int64_t nmax = 0;
    for (int64_t l = 0; l < L; ++l) { geom_t g = geom_at(geom, l); nmax = imax(nmax, g.hout * g.wout * g.cout); }
    REAL *G = malloc(nmax * sizeof(REAL)), *gI = malloc(nmax * sizeof(REAL)), *gro = malloc(NL * sizeof(REAL));
    REAL *rt = malloc(NL * sizeof(REAL));
    REAL *gs_in = calloc(T * nmax, sizeof(REAL)), *gs_out = calloc(T * nmax, sizeof(REAL));
    REAL *zeros = calloc(Ntot, sizeof(REAL));
    if (!G || !gI || !gro || !rt || !gs_in || !gs_out || !zeros) {
        free(G); free(gI); free(gro); free(rt); free(gs_in); free(gs_out); free(zeros);
        return 1;
    }
    for (int64_t b = b0; b < b1; ++b) {
        const uint8_t *fb = flags + b * T * Ntot;
        /* absent gradients read as zeros */
        const REAL *gc_b = g_counts ? g_counts + b * Ntot : zeros, *gu_b = g_ufinal ? g_ufinal + b * Ntot : zeros;
        const int32_t *am = argmax + b * NL;
        for (int64_t n = 0; n < NL; ++n) gro[n] = g_xhat ? g_xhat[b * NL + n] / scale : (REAL)0;
        for (int64_t l = L - 1; l >= 0; --l) {
            const geom_t g = geom_at(geom, l);
            const int64_t N = g.hout * g.wout * g.cout, o = off[l], Nin = g.hin * g.win * g.cin;
            if (l == L - 1) memset(gs_in, 0, T * N * sizeof(REAL)); /* the last layer's spikes feed no layer */
            memset(G, 0, N * sizeof(REAL));
            for (int64_t t = T - 1; t >= 0; --t) {
                const uint8_t *f = fb + t * Ntot + o;
                if (l == L - 1) /* d x_hat / d U_t = 1/s for t <= t_max (straight-through decay) */
                    for (int64_t n = 0; n < N; ++n) rt[n] = t <= am[n] ? gro[n] : (REAL)0;
                const int any = neuron_grad_SFX(N, f, G, gs_in + t * N, gc_b + o, gu_b + o, l == L - 1 ? rt : zeros,
                                                gI, theta, cum_v);
                const uint8_t *src = l == 0 ? input + (b * T + t) * N0 : fb + t * Ntot + off[l - 1];
                gather_SFX(src, g, K[l], gI, gK[l], l == 0 ? NULL : gs_out + t * Nin, any);
            }
            REAL *swap = gs_in; gs_in = gs_out; gs_out = swap;
        }
    }
    free(G); free(gI); free(gro); free(rt); free(gs_in); free(gs_out); free(zeros);
    return 0;
}
"""

SOURCE = _HEADER + "".join(
    _TEMPLATE.replace("REAL", real).replace("SFX", sfx) for real, sfx in (("float", "f32"), ("double", "f64"))
)
# -ffp-contract=off: no fused multiply-adds, so ``alpha u + I`` rounds as in the torch reference.
_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared", "-std=gnu99"]


def _declare(lib) -> None:
    i64, f64, ptr = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p
    for sfx in ("f32", "f64"):
        fwd = getattr(lib, f"sae_forward_{sfx}")
        fwd.restype = ctypes.c_int
        fwd.argtypes = [i64, i64, i64, i64, ptr, ptr, ptr, ptr, f64, f64, i64, i64, f64, f64, i64, f64,
                        ptr, ptr, ptr, ptr, ptr, i64, ptr]
        bwd = getattr(lib, f"sae_backward_{sfx}")
        bwd.restype = ctypes.c_int
        bwd.argtypes = [i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, f64, i64, f64, ptr, ptr, ptr, ptr, ptr]


def _little_endian() -> None:
    if sys.byteorder != "little":
        raise RuntimeError("the spike scan assumes a little-endian machine")


#: The kernel (``SPIKELIB_SAE_KERNEL=0`` turns it off); its ``lib`` / ``failed`` hold the load state.
KERNEL = CKernel("lif_sae", lambda: SOURCE, _FLAGS, _declare, what="LIF SAE kernel", switch="SPIKELIB_SAE_KERNEL",
                 check=_little_endian)


def library():
    """The loaded kernel library, built on first use; None (with one warning) if that is impossible."""
    return KERNEL.library()


def available() -> bool:
    """Whether the kernel can be used (``SPIKELIB_SAE_KERNEL=0`` turns it off)."""
    return KERNEL.available()


def _suffix(dtype: torch.dtype) -> str:
    return dtype_suffix(dtype, "LIF SAE kernel")


def _parallel(fn, n: int, make_args) -> None:
    """``fn(n0, n1, *make_args(worker))`` over slices of the n images; the C side returns non-zero when it
    could not allocate its scratch memory."""
    if any(KERNEL.parallel(fn, n, make_args)):
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


def forward(input_spikes: torch.Tensor, kernels, geom, *, alpha: float, theta: float, fire_gt: bool,
            lower: float | None, decay: float, scale: float, cumulate_potential: bool = False,
            keep_flags: bool = True, record_layer: int | None = None):
    """Simulate the network on input spikes (B, T, N0) uint8.

    ``cumulate_potential``: ``U_t = d U_{t-1} + v_t`` of the potential (eq. 7 as printed) instead of the
    authors' ``U_t = d (U_{t-1} + I_t)`` of the currents.

    Returns ``(xhat (B, N_last), argmax (B, N_last) int32, counts (B, Ntot), u_final (B, Ntot),
    flags (B, T, Ntot) uint8 or None, recorded spikes (B, T, N_record) uint8 or None)``; the neuron axis
    concatenates the layers in order, each channels-last.
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
    flags = torch.empty(B, T, ntot, dtype=torch.uint8) if keep_flags else None
    rec = None
    if record_layer is not None:
        rec = torch.empty(B, T, int(off[record_layer + 1] - off[record_layer]), dtype=torch.uint8)
    kp = _ptrs(ks)
    fn = getattr(lib, f"sae_forward_{_suffix(dtype)}")
    _parallel(fn, B, lambda i: (T, L, g.data_ptr(), off.data_ptr(), kp, x.data_ptr(), alpha, theta,
                                int(fire_gt), int(lower is not None), 0.0 if lower is None else lower, decay,
                                int(cumulate_potential), scale, _ptr(flags), counts.data_ptr(), ufinal.data_ptr(), xhat.data_ptr(),
                                argmax.data_ptr(), -1 if record_layer is None else record_layer, _ptr(rec)))
    return xhat, argmax, counts, ufinal, flags, rec


def backward(input_spikes, kernels, geom, flags, argmax, *, theta: float, scale: float,
             cumulate_potential: bool = False, g_xhat=None, g_counts=None, g_ufinal=None):
    """Weight gradients (in the kernels' layout) for the gradients of the outputs of :func:`forward`."""
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
    acc = torch.zeros(workers, sum(sizes), dtype=dtype)  # one buffer per thread: no atomics
    views = [list(acc[i].split(sizes)) for i in range(workers)]
    kp = _ptrs(ks)
    gkp = [_ptrs(v) for v in views]
    fn = getattr(lib, f"sae_backward_{_suffix(dtype)}")
    _parallel(fn, B, lambda i: (T, L, g.data_ptr(), off.data_ptr(), kp, x.data_ptr(), flags.data_ptr(), theta,
                                int(cumulate_potential), scale, argmax.data_ptr(), *[_ptr(t) for t in grads],
                                gkp[i]))
    total = acc.sum(dim=0)
    return [part.view_as(k) for part, k in zip(total.split(sizes), ks)]
