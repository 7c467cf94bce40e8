/* Non-templated part of the kernel of Roy et al.'s audiocoder update (_roy.c): its argument struct.
 *
 * Mirrored once in spikelib/lif/_roy_kernel.py (same names, same field order); RoyOuterArgs_layout() lets
 * spikelib/_cbuild.py:check_layout compare the two. Arrays are REAL (double or float, as the entry point's
 * suffix says); scalars are double, cast to REAL on entry.
 */

static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

/* roy_outer_adamw_f64/_f32: rows [r0, r1) of an input-major weight (n_in, H), updated in place. */
typedef struct {
    int64_t r0, r1, H, B;
    int64_t ld_pre;            /* the row stride of pre (>= n_in) */
    const void *pre;           /* (B, n_in): the presynaptic trace */
    const void *delta;         /* (B, H), contiguous: the postsynaptic error */
    void *w, *m, *v;           /* (n_in, H), contiguous: weight (input-major) and Adam's moments */
    double lr, beta1, beta2, eps, weight_decay, step;
} RoyOuterArgs;

void RoyOuterArgs_layout(KernelLayout *o) {
    o->size = sizeof(RoyOuterArgs); o->n = 0;
#define F(f) LAYOUT_FIELD(o, RoyOuterArgs, f)
    F(r0); F(r1); F(H); F(B); F(ld_pre); F(pre); F(delta); F(w); F(m); F(v); F(lr); F(beta1); F(beta2); F(eps);
    F(weight_decay); F(step);
#undef F
}
