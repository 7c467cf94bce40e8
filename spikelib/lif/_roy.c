/* The audiocoder's weight update of Roy et al.'s online rule (§2.3, §3.2.3) in one pass: for every input
 * row r of the input-major weight W^T (n_in, H), its gradient row g_r = sum_b pre[b, r] delta[b, :] is formed
 * in registers and consumed at once by AdamW, so the 480 MB gradient of the 58500 x 2048 layer is never
 * written and the weight and moments stream through the core once per step, while the products run.
 *
 * A template over REAL / SUF (spikelib/_kernel.h), instantiated for double and float after _roy.h. AdamW as
 * torch.optim.AdamW (decoupled decay, bias corrections of step k, eps outside the square root):
 *   w <- w (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
 *   w <- w - (lr / (1 - b1^k)) m / (sqrt(v) / sqrt(1 - b2^k) + eps).
 * MIRROR(roy-adamw): keep in lockstep with spikelib/lif/roy_adam.py:RoyAdam (torch's fused AdamW); tested by
 * tests/test_lif_roy.py::test_c_outer_adamw_matches_the_torch_tiles.
 */

/* Vectors of one register (GCC vector extensions, REG_BYTES of _kernel.h: 64 bytes where AVX-512 is compiled
 * in, else 32). vru: the same at any REAL-aligned address. Loads and stores go through these types, not
 * memcpy: an accumulator whose address is taken is written back to the stack at every multiply-add (GCC 12
 * did so, halving the products' speed). Each gradient element is the same sum over the batch in the same
 * order whatever the width or the block, so every build gives the same bits. */
typedef REAL SUF(vr) __attribute__((vector_size(REG_BYTES)));
typedef REAL SUF(vru) __attribute__((vector_size(REG_BYTES), aligned(sizeof(REAL))));
#define RV ((int64_t)(REG_BYTES / sizeof(REAL)))
#if REG_BYTES == 64
#define ROWS 4
#else
#define ROWS 3
#endif
/* A block: ROWS input rows x COLS vectors of columns, ROWS x COLS accumulators held in registers (16 of
 * the 32 AVX-512 registers; 12 of AVX2's 16, leaving room for the broadcast coefficient). */
#define COLS 4

/* the AdamW update of n elements with gradients g */
static inline void SUF(adamw)(REAL *restrict w, REAL *restrict m, REAL *restrict v, const REAL *restrict g,
                              int64_t n, REAL decay, REAL b1, REAL b2, REAL step_size, REAL inv_bc2_sqrt, REAL eps) {
    for (int64_t q = 0; q < n; ++q) {
        const REAL mq = b1 * m[q] + (1 - b1) * g[q];
        const REAL vq = b2 * v[q] + (1 - b2) * g[q] * g[q];
        m[q] = mq;
        v[q] = vq;
        w[q] = w[q] * decay - step_size * mq / (SQRT(vq) * inv_bc2_sqrt + eps);
    }
}

int SUF(roy_outer_adamw)(const RoyOuterArgs *args) {
    const RoyOuterArgs *a = args;
    FLUSH_SUBNORMALS();
    const int64_t r0 = a->r0, r1 = a->r1, H = a->H, B = a->B, ld = a->ld_pre;
    const REAL *pre = a->pre, *delta = a->delta;
    REAL *w = a->w, *m = a->m, *v = a->v;
    const REAL decay = (REAL)(1 - a->lr * a->weight_decay), b1 = (REAL)a->beta1, b2 = (REAL)a->beta2;
    const REAL step_size = (REAL)(a->lr / (1 - pow(a->beta1, a->step)));
    const REAL inv_bc2_sqrt = (REAL)(1 / sqrt(1 - pow(a->beta2, a->step))), eps = (REAL)a->eps;
    REAL *coef = malloc((size_t)(B * ROWS) * sizeof(REAL)); /* pre of the block's rows, (B, ROWS) */
    REAL g[ROWS][COLS * RV] __attribute__((aligned(64)));
    if (!coef) return 1;
    for (int64_t r = r0; r < r1; r += ROWS) {
        const int64_t nr = imin(ROWS, r1 - r);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t j = 0; j < ROWS; ++j) coef[b * ROWS + j] = j < nr ? pre[b * ld + r + j] : (REAL)0;
        int64_t h = 0;
        for (; h + COLS * RV <= H; h += COLS * RV) {
            SUF(vr) acc[ROWS][COLS];
            for (int64_t j = 0; j < ROWS; ++j)
                for (int64_t k = 0; k < COLS; ++k) acc[j][k] = (SUF(vr)){0};
            for (int64_t b = 0; b < B; ++b) {
                const SUF(vru) *d = (const SUF(vru) *)(delta + b * H + h);
                for (int64_t j = 0; j < ROWS; ++j) {
                    const REAL c = coef[b * ROWS + j];
                    for (int64_t k = 0; k < COLS; ++k) acc[j][k] += c * d[k];
                }
            }
            for (int64_t j = 0; j < ROWS; ++j)
                for (int64_t k = 0; k < COLS; ++k) *(SUF(vr) *)(g[j] + k * RV) = acc[j][k];
            for (int64_t j = 0; j < nr; ++j) {
                const int64_t o = (r + j) * H + h;
                SUF(adamw)(w + o, m + o, v + o, g[j], COLS * RV, decay, b1, b2, step_size, inv_bc2_sqrt, eps);
            }
        }
        for (; h < H; ++h) /* the columns past the last whole block, one at a time */
            for (int64_t j = 0; j < nr; ++j) {
                REAL s = 0;
                for (int64_t b = 0; b < B; ++b) s += coef[b * ROWS + j] * delta[b * H + h];
                const int64_t o = (r + j) * H + h;
                SUF(adamw)(w + o, m + o, v + o, &s, 1, decay, b1, b2, step_size, inv_bc2_sqrt, eps);
            }
    }
    free(coef);
    return 0;
}
