/* Event-driven CPU kernel for feed-forward LIF networks with binary spikes (Hübotter et al. 2021, §2.2);
 * the algorithm, the layer geometry and the gradients are described in spikelib/lif/_sae_kernel.py.
 *
 * A template over REAL / SUF (spikelib/_kernel.h), instantiated for double and float after _sae.h, which
 * holds the spike lists, the geometry and the argument structs; this file has the vector helpers and the
 * forward pass, _sae_backward.c (instantiated after it) the backward pass. Built by
 * spikelib/lif/_sae_kernel.py with -ffp-contract=off, so that alpha u + I rounds as in the torch reference.
 *
 * Every sum runs in the same order as the plain loops (spikes of a step in ascending index, 32-byte partial
 * sums in the dot products of a fully connected layer, one 64-byte accumulator over a convolutional
 * spike's patch reduced by a fixed tree): the results do not depend on the vector width or on the blocking
 * below.
 */

/* 32-byte vectors of partial sums and 64-byte ones for the element-wise work (GCC vector extensions;
 * unaligned loads through memcpy): the compiler will not reorder a float reduction by itself. */
typedef REAL SUF(vec) __attribute__((vector_size(32)));
typedef REAL SUF(wide) __attribute__((vector_size(64)));
/* The two 32-byte halves of a 64-byte vector. Through a union GCC splits it in registers (vextractf32x8);
 * through memcpy it went via the stack, a 64-byte store read back as two 32-byte loads, which perf showed
 * as the hottest instructions of the backward pass. The same additions in the same order either way. */
typedef union { SUF(wide) w; SUF(vec) h[2]; } SUF(halves);
/* The element-wise work and the 64-byte accumulators go in chunks of CL elements: without AVX-512, GCC
 * has no register for a 64-byte vector, keeps every such variable on the stack and stores and reloads it
 * around each operation (perf, Zen 3: the forward's adds and the backward's dot products). Chunks are
 * 32-byte vectors there, the wide vector with AVX-512; an accumulator is NCH chunks, lane for lane the
 * 64-byte one, so every sum is the same. */
#if NCH == 1
typedef SUF(wide) SUF(chunk);
#else
typedef SUF(vec) SUF(chunk);
#endif
typedef struct { SUF(chunk) c[NCH]; } SUF(acc64);

/* half i (0: lanes 0 .. LANES - 1, 1: the rest) of a 64-byte group, in registers either way */
static inline SUF(vec) SUF(half)(SUF(acc64) a, int i) {
#if NCH == 1
    SUF(halves) hv = {.w = a.c[0]};
    return hv.h[i];
#else
    return a.c[i];
#endif
}

/* o += k over n elements */
static inline void SUF(add)(REAL *restrict o, const REAL *restrict k, int64_t n) {
    int64_t q = 0;
    for (; q + 2 * LANES <= n; q += 2 * LANES)
        for (int64_t h = 0; h < NCH; ++h) {
            const int64_t e = q + h * CL;
            SUF(chunk) ov, kv;
            memcpy(&ov, o + e, sizeof ov);
            memcpy(&kv, k + e, sizeof kv);
            ov += kv;
            memcpy(o + e, &ov, sizeof ov);
        }
    for (; q < n; ++q) o[q] += k[q];
}

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

/* the weight rows of a band of a blocked layer (see FC_BAND_BYTES), for blocks of bw neurons */
static inline int64_t SUF(band_rows)(int64_t bw) { return imax(1, FC_BAND_BYTES / (bw * (int64_t)sizeof(REAL))); }

/* What a step leaves besides the flags, for neurons [0, n) of a (block of a) layer: the running maximum
 * of U and its step (best, am; the last layer, else NULL) and the recorded spikes (r, else NULL).
 * MIRROR(lif-readout): keep in lockstep with spikelib/lif/functional.py:max_readout; tested by
 * tests/test_conv_sae.py::test_readout_is_max_cumulative_current_over_scale_and_its_gradient */
static inline void SUF(step_outputs)(int64_t n, int64_t t, const REAL *U, REAL *best, int32_t *am,
                                     const uint8_t *f, uint8_t *r) {
    if (best)
        for (int64_t i = 0; i < n; ++i)
            if (t == 0 || U[i] > best[i]) { best[i] = U[i]; am[i] = (int32_t)t; }
    if (r)
        for (int64_t i = 0; i < n; ++i) r[i] = f[i] & 1;
}

/* Layer by layer, each over all T steps, one image at a time: a layer's state stays in the core's cache
 * while its input spikes (the flags of the layer below, or the input) stream past. A fully connected
 * layer goes in blocks of FC_COLS neurons (see FC_COLS): the currents of a block for all T steps (curT,
 * zero on entry and left zero by lif_update), band by band of weight rows, then its neurons over time.
 * Each current is the same sum in the same order (the spikes of a step in ascending index) either way. */
int SUF(sae_forward)(const SaeForwardArgs *args) {
    FLUSH_SUBNORMALS();
    const int64_t b0 = args->b0, b1 = args->b1, T = args->T, L = args->L, *geom = args->geom, *off = args->off;
    const int64_t fire_gt = args->fire_gt, has_lower = args->has_lower, cum_v = args->cum_v;
    const int64_t rec_layer = args->rec_layer;
    const REAL *const *K = (const REAL *const *)args->K;
    const uint8_t *input = args->input;
    const double alpha_d = args->alpha, theta_d = args->theta, lower_d = args->lower, decay_d = args->decay,
                 scale_d = args->scale;
    uint8_t *flags = args->flags, *rec = args->rec;
    int32_t *lists = args->lists;
    int64_t *list_start = args->list_start;
    const int64_t cap = args->list_cap;
    REAL *counts = args->counts, *ufinal = args->ufinal, *xhat = args->xhat;
    int32_t *argmax = args->argmax;
    const REAL alpha = (REAL)alpha_d, theta = (REAL)theta_d, lower = (REAL)lower_d, decay = (REAL)decay_d,
               scale = (REAL)scale_d;
    const int64_t Ntot = off[L], NL = off[L] - off[L - 1];
    const geom_t g0 = geom_at(geom, 0);
    const int64_t N0 = g0.hin * g0.win * g0.cin;
    int64_t nmax, nin, nin_fc;
    layer_extents(geom, L, sizeof(REAL), &nmax, &nin, &nin_fc);
    REAL *u = scratch(nmax * sizeof(REAL)), *cur = scratch(nmax * sizeof(REAL));
    int32_t *sp = scratch((nin + 16) * sizeof(int32_t));
    int32_t *lst = nin_fc ? scratch((T * nin_fc + 16) * sizeof(int32_t)) : NULL;
    int64_t *start = malloc((T + 1) * sizeof(int64_t)), *cursor = malloc((T + 1) * sizeof(int64_t));
    REAL *curT = nin_fc ? scratch(T * FC_COLS * sizeof(REAL)) : NULL;
    uint8_t *tmp = flags ? NULL : malloc(T * Ntot); /* without stored flags: one image's worth */
    int ok = u && cur && sp && start && cursor && (!nin_fc || (lst && curT)) && (flags || tmp);
    if (curT) memset(curT, 0, T * FC_COLS * sizeof(REAL));
    for (int64_t b = b0; ok && b < b1; ++b) {
        uint8_t *fb = flags ? flags + b * T * Ntot : tmp;
        REAL *best = xhat + b * NL; /* the running maximum; divided by s at the end */
        int32_t *am = argmax + b * NL;
        /* keep this image's input spike lists while they fit (see kept_lists) */
        int keep = lists != NULL;
        int64_t used = 0;
        for (int64_t l = 0; l < L; ++l) {
            const geom_t g = geom_at(geom, l);
            const int64_t N = g.hout * g.wout * g.cout, o = off[l], Nin = g.hin * g.win * g.cin;
            REAL *U = ufinal + b * Ntot + o, *cnt = counts + b * Ntot + o;
            const uint8_t *src0 = l == 0 ? input + b * T * N0 : fb + off[l - 1];
            const int64_t stride = l == 0 ? N0 : Ntot;
            uint8_t *r0 = rec && l == rec_layer ? rec + b * T * N : NULL;
            memset(u, 0, N * sizeof(REAL));
            memset(cur, 0, N * sizeof(REAL));
            memset(U, 0, N * sizeof(REAL));
            memset(cnt, 0, N * sizeof(REAL));
            /* Kept lists go to lb + used, step t's from entry ls[t], while keep_step finds room; else the
             * image's lists are given up (marked once, after its layers). */
            int64_t *ls = keep ? list_start + (b * L + l) * (T + 1) : NULL;
            int32_t *lb = keep ? lists + b * cap : NULL;
            if (keep) ls[0] = used;
            const int wide = fc_banded(&g, sizeof(REAL));
            const int32_t *kl = NULL, *ll = lst; /* this layer's input spike lists, when listed for all T steps */
            if (wide && keep) { /* fc_blocked wants all T steps' lists: list them into the kept ones */
                for (int64_t t = 0; keep && t < T; ++t) keep = keep_step(src0 + t * stride, Nin, lb, cap, &used, ls, t);
                if (keep) ll = kl = kept_lists(lists, cap, list_start, b, l, L, T, start);
            }
            if (fc_blocked(wide, &g, src0, stride, T, kl != NULL, lst, start)) {
                for (int64_t c0 = 0; c0 < N; c0 += FC_COLS) {
                    const int64_t bw = imin(FC_COLS, N - c0), rows = SUF(band_rows)(bw);
                    memcpy(cursor, start, (T + 1) * sizeof(int64_t));
                    for (int64_t r1 = rows; r1 < Nin + rows; r1 += rows)
                        for (int64_t t = 0; t < T; ++t) {
                            int64_t q = cursor[t];
                            for (; q < start[t + 1] && ll[q] < r1; ++q)
                                SUF(add)(curT + t * bw, K[l] + ll[q] * N + c0, bw);
                            cursor[t] = q;
                        }
                    for (int64_t t = 0; t < T; ++t) {
                        uint8_t *f = fb + t * Ntot + o + c0;
                        SUF(lif_update)(bw, curT + t * bw, u + c0, U + c0, cnt + c0, f, alpha, theta, fire_gt,
                                        has_lower, lower, decay, cum_v);
                        SUF(step_outputs)(bw, t, U + c0, l == L - 1 ? best + c0 : NULL, l == L - 1 ? am + c0 : NULL, f,
                                          r0 ? r0 + t * N + c0 : NULL);
                    }
                }
                continue;
            }
            /* a wide layer's input spikes are listed (kept, or by fc_blocked in lst, start); the others step by
             * step, into the kept lists while they have room */
            for (int64_t t = 0; t < T; ++t) {
                uint8_t *f = fb + t * Ntot + o;
                const int32_t *idx;
                int64_t ns;
                if (wide) {
                    ns = step_spikes(1, ll, start, t, src0 + t * stride, Nin, sp, &idx);
                } else if (keep && (keep = keep_step(src0 + t * stride, Nin, lb, cap, &used, ls, t))) {
                    idx = lb + ls[t];
                    ns = ls[t + 1] - ls[t];
                } else {
                    ns = spike_list(src0 + t * stride, Nin, sp);
                    idx = sp;
                }
                SUF(scatter)(idx, ns, &g, K[l], cur);
                SUF(lif_update)(N, cur, u, U, cnt, f, alpha, theta, fire_gt, has_lower, lower, decay, cum_v);
                SUF(step_outputs)(N, t, U, l == L - 1 ? best : NULL, am, f, r0 ? r0 + t * N : NULL);
            }
        }
        if (lists && !keep) list_start[b * L * (T + 1)] = -1; /* given up: the backward lists them again */
        for (int64_t n = 0; n < NL; ++n) best[n] /= scale;
    }
    free(u); free(cur); free(sp); free(lst); free(start); free(cursor); free(curT); free(tmp);
    return !ok;
}
