/* Non-templated part of the LIF SAE kernel (_sae.c): spike iteration, layer geometry, argument structs.
 *
 * The argument structs are mirrored once in spikelib/lif/_sae_kernel.py (same names, same field order);
 * the *_layout() functions let spikelib/_cbuild.py:check_layout compare the two. Arrays are REAL (double
 * or float, as the entry point's suffix says) unless typed here; scalars are double, cast to REAL on entry.
 */
#if (defined(__AVX512F__) && defined(__AVX512BW__)) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define ONES 0x0101010101010101ULL

static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

/* The indices p in [0, n) with src[p] & 1, ascending, into idx (room for n + 16); returns their count.
 * Branch-free where AVX-512 is compiled in: 64 bytes per test, then a register compress per 16 indices
 * (the memory form of vpcompressd is microcoded on Zen 4); with AVX2, 32 bytes per test (bit 0 shifted
 * to the top of each byte for movemask; Zen 3, T = 25, 1 thread: the SAE's forward 0.122-0.125 s a step
 * with eight bytes per test, 0.094-0.104 with 32); else eight bytes per test. */
static int64_t spike_list(const uint8_t *src, int64_t n, int32_t *idx) {
    int64_t m = 0, w = 0;
#if defined(__AVX512F__) && defined(__AVX512BW__)
    const __m512i one = _mm512_set1_epi8(1), iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; w + 64 <= n; w += 64) {
        const __mmask64 b = _mm512_test_epi8_mask(_mm512_loadu_si512(src + w), one);
        for (int q = 0; q < 4; ++q) {
            const __mmask16 h = (__mmask16)(b >> (16 * q));
            const __m512i v = _mm512_add_epi32(iota, _mm512_set1_epi32((int32_t)(w + 16 * q)));
            _mm512_storeu_si512(idx + m, _mm512_maskz_compress_epi32(h, v));
            m += __builtin_popcount(h);
        }
    }
#elif defined(__AVX2__)
    for (; w + 32 <= n; w += 32) {
        const __m256i v = _mm256_slli_epi16(_mm256_loadu_si256((const __m256i *)(src + w)), 7);
        for (uint32_t b = (uint32_t)_mm256_movemask_epi8(v); b; b &= b - 1) idx[m++] = (int32_t)(w + __builtin_ctz(b));
    }
#endif
    for (; w < n; w += 8) {
        uint64_t b = 0;
        if (w + 8 <= n) memcpy(&b, src + w, 8);
        else for (int64_t j = 0; w + j < n; ++j) b |= (uint64_t)src[w + j] << (8 * j);
        for (b &= ONES; b; b &= b - 1) idx[m++] = (int32_t)(w + (__builtin_ctzll(b) >> 3));
    }
    return m;
}

/* The input spikes of all T steps of one layer and image, as one list: step t's ascending indices are
 * lst[start[t] .. start[t + 1]) (lst has room for T n + 16). src(t) = base + t stride. */
static void spike_lists(const uint8_t *base, int64_t stride, int64_t T, int64_t n, int32_t *lst, int64_t *start) {
    start[0] = 0;
    for (int64_t t = 0; t < T; ++t) start[t + 1] = start[t] + spike_list(base + t * stride, n, lst + start[t]);
}

/* A fully connected layer (one input and output position, k = 1) runs in blocks of FC_COLS neurons,
 * each over all T steps, and within a block in bands of input rows whose weight rows take about
 * FC_BAND_BYTES: the weights a spike reads (and, backwards, the gradient rows it writes) are then in L2,
 * not fetched from L3 once per spike (a 100 x 12,800 layer is 5 MB; its row is 51 KB). */
#define FC_COLS 256
#define FC_BAND_BYTES (256 * 1024)
#define FC_DENSE 8

/* n / d by a multiplication: floor(n ceil(2^40 / d) / 2^40) is exact for n, d < 2^20 (the error term
 * n (ceil(2^40 / d) d - 2^40) / (d 2^40) stays below 1/d); a division beyond. */
typedef struct { uint64_t m; int64_t d; int fast; } divisor_t;

static inline divisor_t divisor(int64_t d, int64_t nmax) {
    divisor_t r = {((1ULL << 40) + (uint64_t)d - 1) / (uint64_t)d, d, d < (1 << 20) && nmax < (1 << 20)};
    return r;
}

static inline int64_t quot(divisor_t v, int64_t n) { return v.fast ? (int64_t)(((uint64_t)n * v.m) >> 40) : n / v.d; }

/* geometry of layer l: cin, hin, win, cout, hout, wout, k, pad; the divisors that split an input index
 * p = (y win + x) cin + c */
typedef struct { int64_t cin, hin, win, cout, hout, wout, k, pad; divisor_t by_cin, by_win; } geom_t;

static inline geom_t geom_at(const int64_t *g, int64_t l) {
    const int64_t *q = g + 8 * l;
    const int64_t nin = q[0] * q[1] * q[2];
    geom_t r = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], divisor(q[0], nin), divisor(q[2], nin)};
    return r;
}

/* a fully connected layer (one input and one output position) wider than a block */
static inline int fc_wide(const geom_t *g) {
    return g->hin * g->win == 1 && g->k == 1 && g->hout * g->wout == 1 && g->cout > FC_COLS;
}

/* A fully connected layer whose weights (of `real` bytes each) pass FC_TALL_BYTES goes in bands of weight
 * rows as a wide one does, even within one block, so that the weight (and in the backward, gradient) rows its
 * input spikes read come from L3 once per band instead of once per spike. fc1 (12,800 x 100): its backward
 * 1.25 of 6.6 G cycles of the whole backward's dot products, banded -6 %; its forward on a bursting SAE
 * (conv2 at 62 %, T = 100) 0.85-0.95 -> 0.77-0.88 s for 16 images, and unchanged at low rates, where
 * fc_blocked keeps the per-step path. */
#define FC_TALL_BYTES (1024 * 1024)
static inline int fc_tall(const geom_t *g, int64_t real) {
    return g->hin * g->win == 1 && g->k == 1 && g->hout * g->wout == 1 && g->cin * g->cout * real > FC_TALL_BYTES;
}

/* Whether a pass may take a fully connected layer in bands of weight rows (fc_blocked decides per image) */
static inline int fc_banded(const geom_t *g, int64_t real) { return fc_wide(g) || fc_tall(g, real); }

/* The spike lists the forward pass keeps for the backward (SaeForwardArgs.lists): image b's lists start at
 * lists + b cap, layer l's input spikes of step t at entry ls[t] of them (ls = list_start + (b L + l)(T + 1);
 * ls[T] is where layer l + 1's begin), and list_start[b L (T + 1)] = -1 marks an image whose lists did not
 * fit in cap entries (listed again from the flags). Layer l's lists of image b, if kept: their first entry,
 * with start[0 .. T] (T + 1 entries) set relative to it; else NULL. */
static inline const int32_t *kept_lists(const int32_t *lists, int64_t cap, const int64_t *list_start, int64_t b,
                                        int64_t l, int64_t L, int64_t T, int64_t *start) {
    if (!lists || list_start[b * L * (T + 1)] < 0) return NULL;
    const int64_t *ls = list_start + (b * L + l) * (T + 1);
    for (int64_t t = 0; t <= T; ++t) start[t] = ls[t] - ls[0];
    return lists + b * cap + ls[0];
}

/* Keeps step t of a layer's input spikes (src, n inputs) at lb + *used, recording where they end in
 * ls[t + 1], if the image's cap entries have room for all n and spike_list's 16-entry overrun; returns
 * whether they were kept (if not, the forward gives up the image's lists, see kept_lists). */
static inline int keep_step(const uint8_t *src, int64_t n, int32_t *lb, int64_t cap, int64_t *used, int64_t *ls,
                            int64_t t) {
    if (*used + n + 16 > cap) return 0;
    ls[t + 1] = *used += spike_list(src, n, lb + *used);
    return 1;
}

/* The scratch sizes of a pass over the L layers of geom: the most neurons of a layer (*nmax), inputs of a
 * layer (*nin), and inputs of a fully connected layer that may go in bands (*nin_fc: fc_banded with
 * weights of `real` bytes; 0 if none). */
static inline void layer_extents(const int64_t *geom, int64_t L, int64_t real, int64_t *nmax, int64_t *nin,
                                 int64_t *nin_fc) {
    *nmax = *nin = *nin_fc = 0;
    for (int64_t l = 0; l < L; ++l) {
        const geom_t g = geom_at(geom, l);
        *nmax = imax(*nmax, g.hout * g.wout * g.cout);
        *nin = imax(*nin, g.hin * g.win * g.cin);
        if (fc_banded(&g, real)) *nin_fc = imax(*nin_fc, g.cin);
    }
}

/* Step t's input spikes: the lists fc_blocked made (listed: lst, start), else spike_list of src into sp.
 * Returns their count and points *idx at them. */
static inline int64_t step_spikes(int listed, const int32_t *lst, const int64_t *start, int64_t t,
                                  const uint8_t *src, int64_t n, int32_t *sp, const int32_t **idx) {
    if (listed) {
        *idx = lst + start[t];
        return start[t + 1] - start[t];
    }
    *idx = sp;
    return spike_list(src, n, sp);
}

/* Whether a fully connected layer that may go in bands (banded: fc_banded) does
 * for this image: where its input fires at least FC_DENSE spikes per step on average (with fewer, the rows
 * a spike reads stay in L2 anyway, and the strided walk over the flags in blocks costs more than it saves).
 * Its input spike lists (see spike_lists) are then in lst and start (listed: start already holds those of
 * the kept lists, see kept_lists). */
static inline int fc_blocked(int banded, const geom_t *g, const uint8_t *src0, int64_t stride, int64_t T,
                             int listed, int32_t *lst, int64_t *start) {
    if (!banded) return 0;
    if (!listed) spike_lists(src0, stride, T, g->cin, lst, start); /* else the kept lists are in start */
    return start[T] >= FC_DENSE * T;
}

/* The spikes sp[0 .. ns) of a convolutional layer's input regrouped by channel into out (ascending index
 * within a channel; head: room for cin + 1). The weight patch K[c] a spike reads and the gradient patch
 * gK[c] it writes (k k cout each) then stay in L1 over the channel's spikes instead of coming from L2 for
 * every spike; each gK element still gets its terms in the order of ascending index, so the sums are
 * unchanged. Returns out. */
static const int32_t *channel_major(const int32_t *sp, int64_t ns, const geom_t *g, int32_t *out, int64_t *head) {
    const int64_t C = g->cin;
    memset(head, 0, (C + 1) * sizeof(int64_t));
    for (int64_t s = 0; s < ns; ++s) ++head[sp[s] - quot(g->by_cin, sp[s]) * C + 1];
    for (int64_t c = 0; c < C; ++c) head[c + 1] += head[c];
    for (int64_t s = 0; s < ns; ++s) out[head[sp[s] - quot(g->by_cin, sp[s]) * C]++] = sp[s];
    return out;
}

/* the input spike p of layer g as (y, x, c) */
#define SPLIT_SPIKE(g, p, y, x, c)                                                                   \
    const int64_t _yx = quot((g).by_cin, (p)), c = (p) - _yx * (g).cin, y = quot((g).by_win, _yx), \
                  x = _yx - y * (g).win

/* How many of the spikes sp[s], sp[s + 1], ... (at most 4, at least 1) share the channel c and the patch
 * bounds j0, j1, i0, i1 of sp[s] (at y, x); their positions into ys, xs. Built with
 * -DSAE_ONE_SPIKE_AT_A_TIME, always 1 (the test that grouping changes no bit compares the two). */
static inline int patch_peers(const int32_t *sp, int64_t s, int64_t ns, const geom_t *gp, int64_t y, int64_t x,
                              int64_t c, int64_t j0, int64_t j1, int64_t i0, int64_t i1, int64_t *ys, int64_t *xs) {
    const geom_t g = *gp;
    int m = 1;
    ys[0] = y;
    xs[0] = x;
#ifdef SAE_ONE_SPIKE_AT_A_TIME
    return 1;
#endif
    for (; m < 4 && s + m < ns; ++m) {
        const int64_t p = sp[s + m];
        SPLIT_SPIKE(g, p, yp, xp, cp);
        if (cp != c || imax(0, g.pad - yp) != j0 || imin(g.k, g.hout + g.pad - yp) != j1 ||
            imax(0, g.pad - xp) != i0 || imin(g.k, g.wout + g.pad - xp) != i1)
            break;
        ys[m] = yp;
        xs[m] = xp;
    }
    return m;
}

/* 32-byte vector lanes of REAL (expanded where REAL is defined) */
#define LANES ((int64_t)(32 / sizeof(REAL)))
/* A 64-byte group of 2 LANES elements is held as NCH chunks (vectors) of CL elements, one register each
 * (REG_BYTES): one 64-byte vector where AVX-512 is compiled in, else two 32-byte ones (SUF(chunk), _sae.c). */
#define NCH (64 / REG_BYTES)
#define CL (2 * LANES / NCH)

/* scratch memory of a thread on 64-byte lines (no vector split across two lines); NULL if none */
static inline void *scratch(int64_t bytes) {
    void *p = NULL;
    return posix_memalign(&p, 64, (size_t)(bytes > 0 ? bytes : 1)) ? NULL : p;
}

/* sae_forward_f64/_f32: simulate images [b0, b1) (see spikelib/lif/_sae_kernel.py:forward). */
typedef struct {
    int64_t b0, b1, T, L;
    const int64_t *geom;     /* L x 8: cin, hin, win, cout, hout, wout, k, pad */
    const int64_t *off;      /* L + 1 offsets of the layers on the neuron axis */
    const void *const *K;    /* L weight patches (cin, k, k, cout) */
    const uint8_t *input;    /* (B, T, N0) spikes */
    double alpha, theta;
    int64_t fire_gt, has_lower;
    double lower, decay;
    int64_t cum_v;           /* cumulate the potential (eq. 7 as printed) instead of the currents */
    double scale;
    uint8_t *flags;          /* out (B, T, Ntot) or NULL: 1 spiked, 2 clamped */
    void *counts, *ufinal;   /* out (B, Ntot) */
    void *xhat;              /* out (B, N_last) */
    int32_t *argmax;         /* out (B, N_last) */
    int64_t rec_layer;       /* record this layer's spikes into rec, or -1 */
    uint8_t *rec;
    int32_t *lists;          /* out (B, list_cap) or NULL: the input spike lists kept for the backward */
    int64_t list_cap;
    int64_t *list_start;     /* out (B, L, T + 1) (see kept_lists) */
} SaeForwardArgs;

/* sae_backward_f64/_f32: weight gradients of images [b0, b1) into this thread's gK. */
typedef struct {
    int64_t b0, b1, T, L;
    const int64_t *geom, *off;
    const void *const *K;
    const uint8_t *input, *flags;
    double theta;
    int64_t cum_v;
    double scale;
    const int32_t *argmax;
    const void *g_xhat, *g_counts, *g_ufinal; /* upstream gradients, each may be NULL (zero) */
    void *const *gK;         /* L gradient buffers in the layout of K */
    const int32_t *lists;    /* the forward's kept spike lists, or NULL (see kept_lists) */
    int64_t list_cap;
    const int64_t *list_start;
} SaeBackwardArgs;

void SaeForwardArgs_layout(KernelLayout *o) {
    o->size = sizeof(SaeForwardArgs); o->n = 0;
#define F(f) LAYOUT_FIELD(o, SaeForwardArgs, f)
    F(b0); F(b1); F(T); F(L); F(geom); F(off); F(K); F(input); F(alpha); F(theta); F(fire_gt); F(has_lower);
    F(lower); F(decay); F(cum_v); F(scale); F(flags); F(counts); F(ufinal); F(xhat); F(argmax); F(rec_layer);
    F(rec); F(lists); F(list_cap); F(list_start);
#undef F
}

void SaeBackwardArgs_layout(KernelLayout *o) {
    o->size = sizeof(SaeBackwardArgs); o->n = 0;
#define F(f) LAYOUT_FIELD(o, SaeBackwardArgs, f)
    F(b0); F(b1); F(T); F(L); F(geom); F(off); F(K); F(input); F(flags); F(theta); F(cum_v); F(scale);
    F(argmax); F(g_xhat); F(g_counts); F(g_ufinal); F(gK); F(lists); F(list_cap); F(list_start);
#undef F
}
