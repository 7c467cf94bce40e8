/* The backward pass of the LIF SAE kernel (see _sae.c, whose vector types and helpers it uses): the input
 * spikes' dot products and weight-gradient rows, the neurons' gradients, and sae_backward. A template over
 * REAL / SUF, instantiated after _sae.c for each precision (spikelib/lif/_sae_kernel.py). */

/* One 64-byte group (2 LANES elements): g += o, and the products k * o, returned lane for lane. */
static inline SUF(acc64) SUF(group_dot)(const REAL *restrict k, const REAL *restrict o, REAL *restrict g) {
    SUF(acc64) p;
    for (int64_t h = 0; h < NCH; ++h) {
        SUF(chunk) kv, ov, gv;
        memcpy(&kv, k + h * CL, sizeof kv);
        memcpy(&ov, o + h * CL, sizeof ov);
        memcpy(&gv, g + h * CL, sizeof gv);
        p.c[h] = kv * ov;
        gv += ov;
        memcpy(g + h * CL, &gv, sizeof gv);
    }
    return p;
}

/* g += o, and the sum of k * o into LANES partial sums (part) over consecutive groups of LANES (two groups
 * per 64-byte vector, added one after the other) and the scalar tail (s). A row cut into pieces whose
 * lengths are multiples of 2 LANES, but for the last, gives the partial sums of one call over the row. */
static inline void SUF(dot_acc_part)(const REAL *restrict k, const REAL *restrict o, REAL *restrict g, int64_t n,
                                     SUF(vec) *part_io, REAL *s_io) {
    SUF(vec) part = *part_io;
    int64_t q = 0;
    for (; q + 2 * LANES <= n; q += 2 * LANES) {
        const SUF(acc64) pv = SUF(group_dot)(k + q, o + q, g + q);
        part += SUF(half)(pv, 0);
        part += SUF(half)(pv, 1);
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
    REAL s = *s_io;
    for (; q < n; ++q) { s += k[q] * o[q]; g[q] += o[q]; }
    *part_io = part;
    *s_io = s;
}

/* the scalar tail, then the partial sums in lane order */
static inline REAL SUF(dot_finish)(SUF(vec) part, REAL s) {
    for (int64_t r = 0; r < LANES; ++r) s += part[r];
    return s;
}

/* g += o; return sum(k * o) (see dot_acc_part) */
static inline REAL SUF(dot_acc)(const REAL *restrict k, const REAL *restrict o, REAL *restrict g, int64_t n) {
    SUF(vec) part = {0};
    REAL s = 0;
    SUF(dot_acc_part)(k, o, g, n, &part, &s);
    return SUF(dot_finish)(part, s);
}

static inline void SUF(acc)(const REAL *restrict o, REAL *restrict g, int64_t n) { SUF(add)(g, o, n); }

/* A convolutional layer's spike: g += o over n elements, and k * o summed into one 64-byte accumulator
 * (acc: one lane per element of a 64-byte group, the patch's rows one after the other) and the scalar
 * tail s. The rows of a patch are short (k cout elements); summed as one, the products go straight into
 * the accumulator instead of being split into 32-byte halves and reduced row by row, which kept the
 * vector shuffle port and a serial lane reduction per row busy (the backward's hottest instructions). */
static inline void SUF(patch_dot_acc)(const REAL *restrict k, const REAL *restrict o, REAL *restrict g, int64_t n,
                                      SUF(acc64) *acc, REAL *s_io) {
    SUF(acc64) a = *acc;
    int64_t q = 0;
    for (; q + 2 * LANES <= n; q += 2 * LANES) {
        const SUF(acc64) pv = SUF(group_dot)(k + q, o + q, g + q);
        for (int64_t h = 0; h < NCH; ++h) a.c[h] += pv.c[h];
    }
    REAL s = *s_io;
    for (; q < n; ++q) { s += k[q] * o[q]; g[q] += o[q]; }
    *acc = a;
    *s_io = s;
}

/* the lanes of acc added pairwise (lane i + lane i + w, w = LANES, LANES / 2, ..., 1), then the tail: a
 * fixed tree, the same sums on any vector width. The first level adds the two 32-byte halves as vectors;
 * the rest, on one vector, is unrolled (as a loop through memory, perf showed it among the backward's
 * hottest instructions on AVX2). */
static inline REAL SUF(patch_finish)(SUF(acc64) acc, REAL s) {
    SUF(vec) v = SUF(half)(acc, 0) + SUF(half)(acc, 1);
#pragma GCC unroll 8
    for (int64_t w = LANES / 2; w >= 1; w /= 2)
#pragma GCC unroll 8
        for (int64_t i = 0; i < w; ++i) v[i] += v[i + w];
    return v[0] + s;
}

/* patch_dot_acc for two and four spikes of one channel whose patches have the same shape (o1 .. o4: their
 * rows of gI): g += o1, then g += o2, ..., element by element, as one call per spike would add them, but
 * with one load and store of g and one load of k for all of them; each spike's products go into its own
 * accumulator. Loading k and g and storing g are three of the four memory operations a spike makes per
 * vector, and the channel's spikes come one after the other (channel_major). */
static inline void SUF(patch_dot_acc2)(const REAL *restrict k, const REAL *restrict o1, const REAL *restrict o2,
                                       REAL *restrict g, int64_t n, SUF(acc64) *acc1, SUF(acc64) *acc2, REAL *s1,
                                       REAL *s2) {
    SUF(acc64) a1 = *acc1, a2 = *acc2;
    int64_t q = 0;
    for (; q + 2 * LANES <= n; q += 2 * LANES)
        for (int64_t h = 0; h < NCH; ++h) {
            const int64_t e = q + h * CL;
            SUF(chunk) kv, ov1, ov2, gv;
            memcpy(&kv, k + e, sizeof kv);
            memcpy(&ov1, o1 + e, sizeof ov1);
            memcpy(&ov2, o2 + e, sizeof ov2);
            memcpy(&gv, g + e, sizeof gv);
            a1.c[h] += kv * ov1;
            a2.c[h] += kv * ov2;
            gv += ov1;
            gv += ov2;
            memcpy(g + e, &gv, sizeof gv);
        }
    REAL t1 = *s1, t2 = *s2;
    for (; q < n; ++q) {
        t1 += k[q] * o1[q];
        t2 += k[q] * o2[q];
        g[q] += o1[q];
        g[q] += o2[q];
    }
    *acc1 = a1;
    *acc2 = a2;
    *s1 = t1;
    *s2 = t2;
}

static inline void SUF(patch_dot_acc4)(const REAL *restrict k, const REAL *restrict o1, const REAL *restrict o2,
                                       const REAL *restrict o3, const REAL *restrict o4, REAL *restrict g, int64_t n,
                                       SUF(acc64) *acc, REAL *s) {
    SUF(acc64) a1 = acc[0], a2 = acc[1], a3 = acc[2], a4 = acc[3];
    int64_t q = 0;
    for (; q + 2 * LANES <= n; q += 2 * LANES)
        for (int64_t h = 0; h < NCH; ++h) {
            const int64_t e = q + h * CL;
            SUF(chunk) kv, ov1, ov2, ov3, ov4, gv;
            memcpy(&kv, k + e, sizeof kv);
            memcpy(&ov1, o1 + e, sizeof ov1);
            memcpy(&ov2, o2 + e, sizeof ov2);
            memcpy(&ov3, o3 + e, sizeof ov3);
            memcpy(&ov4, o4 + e, sizeof ov4);
            memcpy(&gv, g + e, sizeof gv);
            a1.c[h] += kv * ov1;
            a2.c[h] += kv * ov2;
            a3.c[h] += kv * ov3;
            a4.c[h] += kv * ov4;
            gv += ov1;
            gv += ov2;
            gv += ov3;
            gv += ov4;
            memcpy(g + e, &gv, sizeof gv);
        }
    for (; q < n; ++q) {
        s[0] += k[q] * o1[q];
        s[1] += k[q] * o2[q];
        s[2] += k[q] * o3[q];
        s[3] += k[q] * o4[q];
        g[q] += o1[q];
        g[q] += o2[q];
        g[q] += o3[q];
        g[q] += o4[q];
    }
    acc[0] = a1;
    acc[1] = a2;
    acc[2] = a3;
    acc[3] = a4;
}

/* gK += input spikes x gI; gs at every input spike = K[spike] . gI (gs may be NULL; gs is indexed like
 * the input). With any = 0 (gI all zero) only gs = 0 is written. Spikes in index order, or for a
 * convolutional layer channel by channel (channel_major): a gK element's terms come in index order either
 * way. A convolutional layer's spikes go four or two at a time where they share a channel and the shape
 * of their patch (patch_peers; on SAE-dense, T = 100, the backward -11 % with pairs, -14 % with fours
 * too), which adds the same terms to gK in the same order. */
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
        int64_t ys[4], xs[4];
        const int m = any && gs && g.k > 1 && i1 > i0 ? patch_peers(sp, s, ns, &g, y, x, c, j0, j1, i0, i1, ys, xs) : 1;
        if (m > 1) { /* this spike and the next three (else the next one) of its channel, same bounds, together */
            const REAL *kc = K + c * kk * g.cout;
            REAL *gc = gK + c * kk * g.cout;
#define ROW(r) (gI + ((ys[r] + j - g.pad) * g.wout + xs[r] + i0 - g.pad) * g.cout)
            if (m == 4) {
                SUF(acc64) acc[4] = {{{{0}}}};
                REAL tails[4] = {0};
                for (int64_t j = j0; j < j1; ++j) {
                    const int64_t ko = (j * g.k + i0) * g.cout, n = (i1 - i0) * g.cout;
                    SUF(patch_dot_acc4)(kc + ko, ROW(0), ROW(1), ROW(2), ROW(3), gc + ko, n, acc, tails);
                }
                for (int r = 0; r < 4; ++r) gs[sp[s + r]] = SUF(patch_finish)(acc[r], tails[r]);
                s += 3;
            } else {
                SUF(acc64) acc1 = {{{0}}}, acc2 = {{{0}}};
                REAL t1 = 0, t2 = 0;
                for (int64_t j = j0; j < j1; ++j) {
                    const int64_t ko = (j * g.k + i0) * g.cout, n = (i1 - i0) * g.cout;
                    SUF(patch_dot_acc2)(kc + ko, ROW(0), ROW(1), gc + ko, n, &acc1, &acc2, &t1, &t2);
                }
                gs[p] = SUF(patch_finish)(acc1, t1);
                gs[sp[s + 1]] = SUF(patch_finish)(acc2, t2);
                s += 1;
            }
#undef ROW
            continue;
        }
        REAL sum = 0;
        if (any && i1 > i0) {
            const REAL *kc = K + c * kk * g.cout;
            REAL *gc = gK + c * kk * g.cout;
            SUF(acc64) acc = {{{0}}};
            REAL tail = 0;
            for (int64_t j = j0; j < j1; ++j) {
                const int64_t ko = (j * g.k + i0) * g.cout, n = (i1 - i0) * g.cout;
                const REAL *o = gI + ((y + j - g.pad) * g.wout + x + i0 - g.pad) * g.cout;
                if (!gs) SUF(acc)(o, gc + ko, n);
                else if (g.k > 1) SUF(patch_dot_acc)(kc + ko, o, gc + ko, n, &acc, &tail);
                else sum += SUF(dot_acc)(kc + ko, o, gc + ko, n);
            }
            if (gs && g.k > 1) sum = SUF(patch_finish)(acc, tail);
        }
        if (gs) gs[p] = sum;
    }
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

/* neuron_grad for a layer without direct gradients (gc = gu = r = 0; not cum_v): G is then gI, so the
 * pass reads the flags, gs and G and writes G, 13 bytes per neuron instead of 29. Same values as
 * neuron_grad: x + 0 = x, and where that differs (x = -0) both give a zero that adds nothing. */
static inline int SUF(neuron_grad_spikes)(int64_t N, const uint8_t *restrict f, REAL *restrict G,
                                          const REAL *restrict gs, REAL theta) {
    int any = 0;
    for (int64_t n = 0; n < N; ++n) {
        const REAL spiked = (REAL)(f[n] & 1), carried = (REAL)(f[n] == 0);
        const REAL Gn = spiked * (gs[n] / theta) + carried * G[n];
        G[n] = Gn;
        any |= Gn != 0;
    }
    return any;
}

static inline int SUF(all_zero)(const REAL *x, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        if (x[i] != 0) return 0;
    return 1;
}

/* Layer by layer from the top, each over all T steps in reverse, one image at a time. gs_in holds the
 * gradients of this layer's spikes for all T steps (written by the layer above at its input spikes),
 * gs_out receives those of the layer below. Both start zeroed and then only ever hold finite values, so
 * the masked products in neuron_grad never see garbage. */
int SUF(sae_backward)(const SaeBackwardArgs *args) {
    FLUSH_SUBNORMALS();
    const int64_t b0 = args->b0, b1 = args->b1, T = args->T, L = args->L, *geom = args->geom, *off = args->off;
    const int64_t cum_v = args->cum_v;
    const REAL *const *K = (const REAL *const *)args->K;
    const uint8_t *input = args->input, *flags = args->flags;
    const double theta_d = args->theta, scale_d = args->scale;
    const int32_t *argmax = args->argmax;
    const REAL *g_xhat = args->g_xhat, *g_counts = args->g_counts, *g_ufinal = args->g_ufinal;
    REAL *const *gK = (REAL *const *)args->gK;
    const int32_t *lists = args->lists;
    const int64_t *list_start = args->list_start, cap = args->list_cap;
    const REAL theta = (REAL)theta_d, scale = (REAL)scale_d;
    const int64_t Ntot = off[L], NL = off[L] - off[L - 1];
    const geom_t g0 = geom_at(geom, 0);
    const int64_t N0 = g0.hin * g0.win * g0.cin;
    int64_t nmax, nin, nin_fc;
    layer_extents(geom, L, sizeof(REAL), &nmax, &nin, &nin_fc);
    REAL *G = scratch(nmax * sizeof(REAL)), *gI = scratch(nmax * sizeof(REAL)), *gro = malloc(NL * sizeof(REAL));
    REAL *rt = malloc(NL * sizeof(REAL));
    REAL *gs_in = calloc(T * nmax, sizeof(REAL)), *gs_out = calloc(T * nmax, sizeof(REAL));
    REAL *zeros = calloc(Ntot, sizeof(REAL));
    int32_t *sp = scratch((nin + 16) * sizeof(int32_t)), *sp_c = scratch((nin + 16) * sizeof(int32_t));
    int64_t cmax = 1;
    for (int64_t l = 0; l < L; ++l) cmax = imax(cmax, geom_at(geom, l).cin);
    int64_t *head = malloc((cmax + 1) * sizeof(int64_t));
    int32_t *lst = nin_fc ? scratch((T * nin_fc + 16) * sizeof(int32_t)) : NULL;
    int64_t *start = malloc((T + 1) * sizeof(int64_t)), *cursor = malloc((T + 1) * sizeof(int64_t));
    REAL *gIT = nin_fc ? scratch(T * FC_COLS * sizeof(REAL)) : NULL;
    int *anyT = malloc(T * sizeof(int));
    SUF(vec) *parts = NULL; /* the partial sums of the dot products of a blocked layer's input spikes */
    REAL *tails = NULL;
    int64_t n_parts = 0;
    int ok = G && gI && gro && rt && gs_in && gs_out && zeros && sp && sp_c && head && start && cursor && anyT &&
                   (!nin_fc || (lst && gIT));
    for (int64_t b = b0; ok && b < b1; ++b) {
        const uint8_t *fb = flags + b * T * Ntot;
        /* absent gradients read as zeros */
        const REAL *gc_b = g_counts ? g_counts + b * Ntot : zeros, *gu_b = g_ufinal ? g_ufinal + b * Ntot : zeros;
        const int32_t *am = argmax + b * NL;
        for (int64_t n = 0; n < NL; ++n) gro[n] = g_xhat ? g_xhat[b * NL + n] / scale : (REAL)0;
        for (int64_t l = L - 1; l >= 0; --l) {
            const geom_t g = geom_at(geom, l);
            const int64_t N = g.hout * g.wout * g.cout, o = off[l], Nin = g.hin * g.win * g.cin;
            const uint8_t *src0 = l == 0 ? input + b * T * N0 : fb + off[l - 1];
            const int64_t stride = l == 0 ? N0 : Ntot;
            REAL *gs = l == 0 ? NULL : gs_out; /* the input spikes' gradients, (T, Nin) */
            if (l == L - 1) memset(gs_in, 0, T * N * sizeof(REAL)); /* the last layer's spikes feed no layer */
            memset(G, 0, N * sizeof(REAL));
            /* most layers get no direct gradient (the losses read the latent layer and the read-out) */
            const int plain = !cum_v && (l < L - 1 || !g_xhat) && SUF(all_zero)(gc_b + o, N) &&
                              SUF(all_zero)(gu_b + o, N);
            const int banded = fc_banded(&g, sizeof(REAL));
            /* the forward's lists of this layer's input spikes, else listed from the flags (lst) */
            const int32_t *kl = kept_lists(lists, cap, list_start, b, l, L, T, start), *ll = kl ? kl : lst;
            if (fc_blocked(banded, &g, src0, stride, T, kl != NULL, lst, start)) {
                /* in blocks of FC_COLS neurons: the block's current gradients for all T steps, then band by
                 * band of weight rows the input spikes' dot products and weight gradients. Each weight
                 * gradient gets its terms in the order of the unblocked pass (t descending); a spike's dot
                 * product carries its partial sums from block to block (parts, tails) and is reduced once,
                 * so every sum is the unblocked one. */
                const int carry = gs && N > FC_COLS;
                if (carry && start[T] > n_parts) {
                    free(parts);
                    free(tails);
                    n_parts = 2 * start[T];
                    parts = scratch(n_parts * sizeof(SUF(vec)));
                    tails = malloc(n_parts * sizeof(REAL));
                    if (!parts || !tails) { ok = 0; break; }
                }
                if (carry) {
                    memset(parts, 0, start[T] * sizeof(SUF(vec)));
                    memset(tails, 0, start[T] * sizeof(REAL));
                }
                for (int64_t c0 = 0; c0 < N; c0 += FC_COLS) {
                    const int64_t bw = imin(FC_COLS, N - c0), rows = SUF(band_rows)(bw);
                    for (int64_t t = T - 1; t >= 0; --t) {
                        const uint8_t *f = fb + t * Ntot + o + c0;
                        REAL *git = gIT + t * bw;
                        if (l == L - 1)
                            for (int64_t n = c0; n < c0 + bw; ++n) rt[n] = t <= am[n] ? gro[n] : (REAL)0;
                        if (plain) {
                            anyT[t] = SUF(neuron_grad_spikes)(bw, f, G + c0, gs_in + t * N + c0, theta);
                            memcpy(git, G + c0, bw * sizeof(REAL));
                        } else {
                            anyT[t] = SUF(neuron_grad)(bw, f, G + c0, gs_in + t * N + c0, gc_b + o + c0, gu_b + o + c0,
                                                       (l == L - 1 ? rt : zeros) + c0, git, theta, cum_v);
                        }
                    }
                    memcpy(cursor, start, (T + 1) * sizeof(int64_t));
                    for (int64_t r1 = rows; r1 < Nin + rows; r1 += rows)
                        for (int64_t t = T - 1; t >= 0; --t) {
                            const REAL *git = gIT + t * bw;
                            int64_t q = cursor[t];
                            for (; q < start[t + 1] && ll[q] < r1; ++q) {
                                const int64_t p = ll[q];
                                REAL *const gk = gK[l] + p * N + c0;
                                if (carry) {
                                    if (anyT[t])
                                        SUF(dot_acc_part)(K[l] + p * N + c0, git, gk, bw, parts + q, tails + q);
                                } else if (gs) {
                                    gs[t * Nin + p] = anyT[t] ? SUF(dot_acc)(K[l] + p * N + c0, git, gk, bw) : (REAL)0;
                                } else if (anyT[t]) {
                                    SUF(acc)(git, gk, bw);
                                }
                            }
                            cursor[t] = q;
                        }
                }
                if (carry)
                    for (int64_t t = 0; t < T; ++t)
                        for (int64_t q = start[t]; q < start[t + 1]; ++q)
                            gs[t * Nin + ll[q]] = SUF(dot_finish)(parts[q], tails[q]);
            } else {
                const int listed = kl || banded; /* kept lists, or fc_blocked has listed them in lst, start */
                for (int64_t t = T - 1; t >= 0; --t) {
                    const uint8_t *f = fb + t * Ntot + o;
                    if (l == L - 1) /* d x_hat / d U_t = 1/s for t <= t_max (straight-through decay) */
                        for (int64_t n = 0; n < N; ++n) rt[n] = t <= am[n] ? gro[n] : (REAL)0;
                    const int any = plain ? SUF(neuron_grad_spikes)(N, f, G, gs_in + t * N, theta)
                                          : SUF(neuron_grad)(N, f, G, gs_in + t * N, gc_b + o, gu_b + o,
                                                             l == L - 1 ? rt : zeros, gI, theta, cum_v);
                    const int32_t *idx;
                    const int64_t ns = step_spikes(listed, ll, start, t, src0 + t * stride, Nin, sp, &idx);
                    if (any && g.k > 1 && g.cin > 1) idx = channel_major(idx, ns, &g, sp_c, head);
                    SUF(gather)(idx, ns, &g, K[l], plain ? G : gI, gK[l],
                                gs ? gs + t * Nin : NULL, any);
                }
            }
            REAL *swap = gs_in; gs_in = gs_out; gs_out = swap;
        }
    }
    free(G); free(gI); free(gro); free(rt); free(gs_in); free(gs_out); free(zeros); free(sp); free(sp_c); free(head);
    free(lst); free(start);
    free(cursor); free(gIT); free(anyT); free(parts); free(tails);
    return !ok;
}
