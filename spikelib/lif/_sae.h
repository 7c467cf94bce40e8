/* Non-templated part of the LIF SAE kernel (_sae.c): spike iteration, layer geometry, argument structs.
 *
 * The argument structs are mirrored once in spikelib/lif/_sae_kernel.py (same names, same field order);
 * the *_layout() functions let spikelib/_cbuild.py:check_layout compare the two. Arrays are REAL (double
 * or float, as the entry point's suffix says) unless typed here; scalars are double, cast to REAL on entry.
 */
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

/* 32-byte vector lanes of REAL (expanded where REAL is defined) */
#define LANES ((int64_t)(32 / sizeof(REAL)))

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
} SaeBackwardArgs;

void SaeForwardArgs_layout(KernelLayout *o) {
    o->size = sizeof(SaeForwardArgs); o->n = 0;
#define F(f) LAYOUT_FIELD(o, SaeForwardArgs, f)
    F(b0); F(b1); F(T); F(L); F(geom); F(off); F(K); F(input); F(alpha); F(theta); F(fire_gt); F(has_lower);
    F(lower); F(decay); F(cum_v); F(scale); F(flags); F(counts); F(ufinal); F(xhat); F(argmax); F(rec_layer);
    F(rec);
#undef F
}

void SaeBackwardArgs_layout(KernelLayout *o) {
    o->size = sizeof(SaeBackwardArgs); o->n = 0;
#define F(f) LAYOUT_FIELD(o, SaeBackwardArgs, f)
    F(b0); F(b1); F(T); F(L); F(geom); F(off); F(K); F(input); F(flags); F(theta); F(cum_v); F(scale);
    F(argmax); F(g_xhat); F(g_counts); F(g_ufinal); F(gK);
#undef F
}
