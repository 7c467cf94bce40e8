/* Event-driven CPU kernel for feed-forward LIF networks with binary spikes (Hübotter et al. 2021, §2.2);
 * the algorithm, the layer geometry and the gradients are described in spikelib/lif/_sae_kernel.py.
 *
 * A template over REAL / SUF (spikelib/_kernel.h), instantiated for double and float after _sae.h, which
 * holds the spike lists, the geometry and the argument structs. Built by spikelib/lif/_sae_kernel.py
 * with -ffp-contract=off, so that alpha u + I rounds as in the torch reference.
 *
 * Every sum runs in the same order as the plain loops (spikes of a step in ascending index, 32-byte partial
 * sums in the dot products): the results do not depend on the vector width or on the blocking below.
 */

/* 32-byte vectors of partial sums and 64-byte ones for the element-wise work (GCC vector extensions;
 * unaligned loads through memcpy): the compiler will not reorder a float reduction by itself. */
typedef REAL SUF(vec) __attribute__((vector_size(32)));
typedef REAL SUF(wide) __attribute__((vector_size(64)));
/* The two 32-byte halves of a 64-byte vector. Through a union GCC splits it in registers (vextractf32x8);
 * through memcpy it went via the stack, a 64-byte store read back as two 32-byte loads, which perf showed
 * as the hottest instructions of the backward pass. The same additions in the same order either way. */
typedef union { SUF(wide) w; SUF(vec) h[2]; } SUF(halves);

/* o += k over n elements */
static inline void SUF(add)(REAL *restrict o, const REAL *restrict k, int64_t n) {
    int64_t q = 0;
    for (; q + 2 * LANES <= n; q += 2 * LANES) {
        SUF(wide) ov, kv;
        memcpy(&ov, o + q, sizeof ov);
        memcpy(&kv, k + q, sizeof kv);
        ov += kv;
        memcpy(o + q, &ov, sizeof ov);
    }
    for (; q < n; ++q) o[q] += k[q];
}

/* g += o; return sum(k * o), summed as LANES partial sums over consecutive groups of LANES (two groups per
 * 64-byte vector, added one after the other), then the scalar tail, then the partial sums in lane order. */
static inline REAL SUF(dot_acc)(const REAL *restrict k, const REAL *restrict o, REAL *restrict g, int64_t n) {
    SUF(vec) part = {0};
    int64_t q = 0;
    for (; q + 2 * LANES <= n; q += 2 * LANES) {
        SUF(wide) kv, ov, gv;
        SUF(halves) pv;
        memcpy(&kv, k + q, sizeof kv);
        memcpy(&ov, o + q, sizeof ov);
        memcpy(&gv, g + q, sizeof gv);
        pv.w = kv * ov;
        part += pv.h[0];
        part += pv.h[1];
        gv += ov;
        memcpy(g + q, &gv, sizeof gv);
    }
    if (q + LANES <= n) {
        SUF(vec) kv, ov, gv;
        memcpy(&kv, k + q, sizeof kv);
        memcpy(&ov, o + q, sizeof ov);
        memcpy(&gv, g + q, sizeof gv);
        part += kv * ov;
        gv += ov;
        memcpy(g + q, &gv, sizeof gv);
        q += LANES;
    }
    REAL s = 0;
    for (; q < n; ++q) { s += k[q] * o[q]; g[q] += o[q]; }
    for (int64_t r = 0; r < LANES; ++r) s += part[r];
    return s;
}

static inline void SUF(acc)(const REAL *restrict o, REAL *restrict g, int64_t n) { SUF(add)(g, o, n); }

/* The rows of a fully connected layer are scattered over a weight matrix far larger than L2: fetch the
 * row of the spike PREFETCH places ahead (rows up to 4 KiB; longer ones the hardware prefetcher follows). */
#define PREFETCH 6

static inline void SUF(prefetch_row)(const REAL *row, int64_t n) {
    for (int64_t b = 0; b < n * (int64_t)sizeof(REAL); b += 64) __builtin_prefetch((const char *)row + b);
}

static inline int SUF(fc_prefetch)(const geom_t *g) {
    return g->hin * g->win == 1 && g->k == 1 && g->cout * (int64_t)sizeof(REAL) <= 4096;
}

/* currents (hout, wout, cout) += the weight patches of the input spikes sp[0 .. ns) */
static void SUF(scatter)(const int32_t *sp, int64_t ns, const geom_t *gp, const REAL *K, REAL *cur) {
    const geom_t g = *gp;
    const int64_t kk = g.k * g.k;
    const int pf = SUF(fc_prefetch)(&g);
    for (int64_t s = 0; s < ns; ++s) {
        const int64_t p = sp[s];
        if (pf && s + PREFETCH < ns) SUF(prefetch_row)(K + sp[s + PREFETCH] * g.cout, g.cout);
        SPLIT_SPIKE(g, p, y, x, c);
        const int64_t j0 = imax(0, g.pad - y), j1 = imin(g.k, g.hout + g.pad - y);
        const int64_t i0 = imax(0, g.pad - x), i1 = imin(g.k, g.wout + g.pad - x);
        const REAL *kc = K + c * kk * g.cout;
        /* for fixed j the targets x + i - pad, i in [i0, i1), are contiguous: one add of (i1 - i0) cout */
        if (i1 > i0)
            for (int64_t j = j0; j < j1; ++j)
                SUF(add)(cur + ((y + j - g.pad) * g.wout + x + i0 - g.pad) * g.cout, kc + (j * g.k + i0) * g.cout,
                         (i1 - i0) * g.cout);
    }
}

/* gK += input spikes x gI; gs at every input spike = K[spike] . gI (gs may be NULL; gs is indexed like
 * the input). With any = 0 (gI all zero) only gs = 0 is written. Spikes in index order: the spikes of
 * one position, which read the same rows of gI, come one after the other. */
static void SUF(gather)(const int32_t *sp, int64_t ns, const geom_t *gp, const REAL *K, const REAL *gI, REAL *gK,
                        REAL *gs, int any) {
    const geom_t g = *gp;
    const int64_t kk = g.k * g.k;
    const int pf = SUF(fc_prefetch)(&g);
    for (int64_t s = 0; s < ns; ++s) {
        const int64_t p = sp[s];
        if (pf && any && s + PREFETCH < ns) {
            SUF(prefetch_row)(K + sp[s + PREFETCH] * g.cout, g.cout);
            SUF(prefetch_row)(gK + sp[s + PREFETCH] * g.cout, g.cout);
        }
        SPLIT_SPIKE(g, p, y, x, c);
        const int64_t j0 = imax(0, g.pad - y), j1 = imin(g.k, g.hout + g.pad - y);
        const int64_t i0 = imax(0, g.pad - x), i1 = imin(g.k, g.wout + g.pad - x);
        REAL sum = 0;
        if (any && i1 > i0) {
            const REAL *kc = K + c * kk * g.cout;
            REAL *gc = gK + c * kk * g.cout;
            for (int64_t j = j0; j < j1; ++j) {
                const int64_t ko = (j * g.k + i0) * g.cout, n = (i1 - i0) * g.cout;
                const REAL *o = gI + ((y + j - g.pad) * g.wout + x + i0 - g.pad) * g.cout;
                if (gs) sum += SUF(dot_acc)(kc + ko, o, gc + ko, n);
                else SUF(acc)(o, gc + ko, n);
            }
        }
        if (gs) gs[p] = sum;
    }
}

/* One step of N LIF neurons (see spikelib/lif/_sae_kernel.py): currents cur -> potentials u, spike counts
 * cnt, cumulative potential U (of the currents, or with cum_v of the potential v before reset), flags f
 * (1 spiked, 2 clamped). cur is zeroed for the next step (one pass fewer than a separate memset).
 * MIRROR(lif-neuron): keep in lockstep with spikelib/lif/functional.py:_step (with huebotter_neuron);
 * tested by tests/test_conv_sae.py::test_kernel_matches_torch_reference
 * MIRROR(lif-cumulative): keep in lockstep with spikelib/lif/functional.py:cumulative_potential; tested by
 * tests/test_conv_sae.py::test_kernel_matches_torch_reference */
static inline void SUF(lif_update)(int64_t N, REAL *restrict cur, REAL *restrict u, REAL *restrict U,
                                   REAL *restrict cnt, uint8_t *restrict f, REAL alpha, REAL theta, int64_t fire_gt,
                                   int64_t has_lower, REAL lower, REAL decay, int64_t cum_v) {
    for (int64_t n = 0; n < N; ++n) {
        const REAL I = cur[n];
        const REAL vr = alpha * u[n] + I;
        const int clamped = has_lower && vr < lower;
        const REAL v = clamped ? lower : vr;
        const int s = fire_gt ? v > theta : v >= theta;
        u[n] = s ? (REAL)0 : v;
        cnt[n] += (REAL)s;
        U[n] = cum_v ? decay * U[n] + v : decay * (U[n] + I);
        f[n] = (uint8_t)(s | (clamped << 1));
        cur[n] = 0;
    }
}

/* Layer by layer, each over all T steps, one image at a time: a layer's state stays in the core's cache
 * while its input spikes (the flags of the layer below, or the input) stream past. */
int SUF(sae_forward)(const SaeForwardArgs *args) {
    const int64_t b0 = args->b0, b1 = args->b1, T = args->T, L = args->L, *geom = args->geom, *off = args->off;
    const int64_t fire_gt = args->fire_gt, has_lower = args->has_lower, cum_v = args->cum_v;
    const int64_t rec_layer = args->rec_layer;
    const REAL *const *K = (const REAL *const *)args->K;
    const uint8_t *input = args->input;
    const double alpha_d = args->alpha, theta_d = args->theta, lower_d = args->lower, decay_d = args->decay,
                 scale_d = args->scale;
    uint8_t *flags = args->flags, *rec = args->rec;
    REAL *counts = args->counts, *ufinal = args->ufinal, *xhat = args->xhat;
    int32_t *argmax = args->argmax;
    const REAL alpha = (REAL)alpha_d, theta = (REAL)theta_d, lower = (REAL)lower_d, decay = (REAL)decay_d,
               scale = (REAL)scale_d;
    const int64_t Ntot = off[L], NL = off[L] - off[L - 1];
    const geom_t g0 = geom_at(geom, 0);
    const int64_t N0 = g0.hin * g0.win * g0.cin;
    int64_t nmax = 0, nin = 0;
    for (int64_t l = 0; l < L; ++l) {
        geom_t g = geom_at(geom, l);
        nmax = imax(nmax, g.hout * g.wout * g.cout);
        nin = imax(nin, g.hin * g.win * g.cin);
    }
    REAL *u = scratch(nmax * sizeof(REAL)), *cur = scratch(nmax * sizeof(REAL));
    int32_t *sp = scratch((nin + 16) * sizeof(int32_t));
    uint8_t *tmp = flags ? NULL : malloc(T * Ntot); /* without stored flags: one image's worth */
    if (!u || !cur || !sp || (!flags && !tmp)) { free(u); free(cur); free(sp); free(tmp); return 1; }
    for (int64_t b = b0; b < b1; ++b) {
        uint8_t *fb = flags ? flags + b * T * Ntot : tmp;
        REAL *best = xhat + b * NL; /* the running maximum; divided by s at the end */
        int32_t *am = argmax + b * NL;
        for (int64_t l = 0; l < L; ++l) {
            const geom_t g = geom_at(geom, l);
            const int64_t N = g.hout * g.wout * g.cout, o = off[l], Nin = g.hin * g.win * g.cin;
            REAL *U = ufinal + b * Ntot + o, *cnt = counts + b * Ntot + o;
            memset(u, 0, N * sizeof(REAL));
            memset(cur, 0, N * sizeof(REAL));
            memset(U, 0, N * sizeof(REAL));
            memset(cnt, 0, N * sizeof(REAL));
            for (int64_t t = 0; t < T; ++t) {
                const uint8_t *src = l == 0 ? input + (b * T + t) * N0 : fb + t * Ntot + off[l - 1];
                uint8_t *f = fb + t * Ntot + o;
                SUF(scatter)(sp, spike_list(src, Nin, sp), &g, K[l], cur);
                SUF(lif_update)(N, cur, u, U, cnt, f, alpha, theta, fire_gt, has_lower, lower, decay, cum_v);
                /* MIRROR(lif-readout): keep in lockstep with spikelib/lif/functional.py:max_readout; tested by
                 * tests/test_conv_sae.py::test_readout_is_max_cumulative_current_over_scale_and_its_gradient */
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
    free(u); free(cur); free(sp); free(tmp);
    return 0;
}

/* Backward through one layer's neurons at one step. G (carried from t + 1, the gradient of the potential's
 * next step) becomes (gs + gc) / theta at a spike, 0 at a clamped step, unchanged otherwise. gu and r are
 * the direct gradients of the cumulative potential U_T and of the read-out at this step: they reach the
 * current (gI = G + gu + r) or, with cum_v, the potential v (G += gu + r, before the clamp's mask).
 * Arithmetic masks instead of branches, so that the loop vectorises; returns whether any gI is non-zero.
 * MIRROR(lif-surrogate): keep in lockstep with spikelib/lif/surrogate.py:straight_through (the 1/theta at
 * a spike); tested by tests/test_conv_sae.py::test_kernel_matches_torch_reference */
static inline int SUF(neuron_grad)(int64_t N, const uint8_t *restrict f, REAL *restrict G, const REAL *restrict gs,
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
int SUF(sae_backward)(const SaeBackwardArgs *args) {
    const int64_t b0 = args->b0, b1 = args->b1, T = args->T, L = args->L, *geom = args->geom, *off = args->off;
    const int64_t cum_v = args->cum_v;
    const REAL *const *K = (const REAL *const *)args->K;
    const uint8_t *input = args->input, *flags = args->flags;
    const double theta_d = args->theta, scale_d = args->scale;
    const int32_t *argmax = args->argmax;
    const REAL *g_xhat = args->g_xhat, *g_counts = args->g_counts, *g_ufinal = args->g_ufinal;
    REAL *const *gK = (REAL *const *)args->gK;
    const REAL theta = (REAL)theta_d, scale = (REAL)scale_d;
    const int64_t Ntot = off[L], NL = off[L] - off[L - 1];
    const geom_t g0 = geom_at(geom, 0);
    const int64_t N0 = g0.hin * g0.win * g0.cin;
    int64_t nmax = 0, nin = 0;
    for (int64_t l = 0; l < L; ++l) {
        geom_t g = geom_at(geom, l);
        nmax = imax(nmax, g.hout * g.wout * g.cout);
        nin = imax(nin, g.hin * g.win * g.cin);
    }
    REAL *G = scratch(nmax * sizeof(REAL)), *gI = scratch(nmax * sizeof(REAL)), *gro = malloc(NL * sizeof(REAL));
    REAL *rt = malloc(NL * sizeof(REAL));
    REAL *gs_in = calloc(T * nmax, sizeof(REAL)), *gs_out = calloc(T * nmax, sizeof(REAL));
    REAL *zeros = calloc(Ntot, sizeof(REAL));
    int32_t *sp = scratch((nin + 16) * sizeof(int32_t));
    if (!G || !gI || !gro || !rt || !gs_in || !gs_out || !zeros || !sp) {
        free(G); free(gI); free(gro); free(rt); free(gs_in); free(gs_out); free(zeros); free(sp);
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
                const int any = SUF(neuron_grad)(N, f, G, gs_in + t * N, gc_b + o, gu_b + o, l == L - 1 ? rt : zeros,
                                                gI, theta, cum_v);
                const uint8_t *src = l == 0 ? input + (b * T + t) * N0 : fb + t * Ntot + off[l - 1];
                SUF(gather)(sp, spike_list(src, Nin, sp), &g, K[l], gI, gK[l], l == 0 ? NULL : gs_out + t * Nin, any);
            }
            REAL *swap = gs_in; gs_in = gs_out; gs_out = swap;
        }
    }
    free(G); free(gI); free(gro); free(rt); free(gs_in); free(gs_out); free(zeros); free(sp);
    return 0;
}
